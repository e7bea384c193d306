"""Checkpoints written before models owned their settings (gru4recf 0.1.0) still load, recommend
the same items with the same scores, and resume to the same results as 0.1.0 itself gave."""
import json
import shutil
from pathlib import Path

import pytest

from gru4recf import load_model, run_gru4recf
from gru4recf.errors import CheckpointError
from helpers import small_config, write_pattern_dataset

OLD = Path(__file__).resolve().parent / "fixtures" / "checkpoints_0.1.0"
EXPECTED = json.loads((OLD / "recommend.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_0_1_0_checkpoint_recommends_what_0_1_0_recommended(name):
    recommender = load_model(OLD / name)
    top = recommender.recommend(["3", "4", "5"], k=5)
    assert recommender.meta["library_version"] == "0.1.0"
    assert top.items == EXPECTED[name]["items"]
    assert top.scores == pytest.approx(EXPECTED[name]["scores"], rel=1e-6)


def test_a_0_1_0_run_resumes_to_the_results_0_1_0_gave(tmp_path):
    """Its stored config holds GRU4RecF's keys (architecture, selected_features...) that a GRU4Rec
    run no longer has: they are not compared, and nothing else differs once the run gives 0.1.0's
    patience (GRU4Rec's default recipe has another; resume refuses settings that differ)."""
    data = write_pattern_dataset(tmp_path / "data")
    last = shutil.copy(OLD / "GRU4Rec-toy.last.pth", tmp_path / "GRU4Rec-toy.last.pth")
    config = small_config(data, epochs=2, log_dir=str(tmp_path / "log"), checkpoint_dir=str(tmp_path / "saved"),
                          embedding_size=8, hidden_size=8, train_mode="sequence", state="WARNING")
    with pytest.raises(CheckpointError, match=r"other settings: stopping_step \(checkpoint 10, now 5\)"):
        run_gru4recf("GRU4Rec", "toy", config, resume=last)
    result = run_gru4recf("GRU4Rec", "toy", dict(config, stopping_step=10), resume=last)
    expected = json.loads((OLD / "resume.json").read_text(encoding="utf-8"))
    assert dict(result["best_valid_result"]) == expected["best_valid_result"]
    assert dict(result["test_result"]) == expected["test_result"]
