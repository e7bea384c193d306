"""Checkpoints written before models owned their settings (gru4recf 0.1.0), and before feature
tables were ragged and the best weights stored once (0.2.0, format version 2), still load,
recommend the same items with the same scores, and resume to the same results as those versions
themselves gave."""
import json
import shutil
from pathlib import Path

import pytest

from gru4recf import load_model, run_gru4recf
from gru4recf.errors import CheckpointError
from gru4recf.training.checkpoint import VERSION, read_checkpoint
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


V2 = Path(__file__).resolve().parent / "fixtures" / "checkpoints_0.2.0"
V2_EXPECTED = json.loads((V2 / "recommend.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(V2_EXPECTED))
def test_a_0_2_0_checkpoint_with_a_padded_token_seq_table_recommends_what_0_2_0_recommended(name):
    checkpoint = read_checkpoint(V2 / name)
    assert checkpoint.version == 2 and checkpoint.item_features["class"].dim() == 2  # [n_items, longest]
    (genres,) = checkpoint.feature_fields()
    assert genres.offsets is not None and genres.values.ndim == 1  # read back ragged
    recommender = load_model(V2 / name)
    top = recommender.recommend(["3", "4", "5"], k=5)
    assert top.items == V2_EXPECTED[name]["items"]
    assert top.scores == pytest.approx(V2_EXPECTED[name]["scores"], rel=1e-6)


def test_a_0_2_0_run_resumes_to_the_results_0_2_0_gave_and_goes_on_in_the_new_layout(tmp_path):
    """Its 'last' file holds the best weights (of epoch 0) beside its own (epoch 2), and its dataset
    fingerprint hashed the genre table padded: both still resume; what the run writes from then
    on is the current format, the genre table ragged and the best weights stored once."""
    data = write_pattern_dataset(tmp_path / "data")
    last = shutil.copy(V2 / "GRU4RecF-toy.last.pth", tmp_path / "GRU4RecF-toy.last.pth")
    assert "best_state_dict" in read_checkpoint(last).training
    config = small_config(data, epochs=5, log_dir=str(tmp_path / "log"), checkpoint_dir=str(tmp_path / "saved"),
                          embedding_size=8, hidden_size=8, train_mode="sequence", learning_rate=0.6, state="WARNING")
    result = run_gru4recf("GRU4RecF", "toy", config, resume=last)
    expected = json.loads((V2 / "resume.json").read_text(encoding="utf-8"))
    assert dict(result["best_valid_result"]) == expected["best_valid_result"]
    assert dict(result["test_result"]) == expected["test_result"]
    written = read_checkpoint(last)
    assert written.version == VERSION and "best_state_dict" not in written.training
    assert written.item_features["class"].dim() == 1 and "class" in written.feature_offsets


def test_a_0_2_0_run_on_a_changed_genre_table_is_still_refused(tmp_path):
    """Same interactions, one item's genres changed: only the padded digest of the table differs."""
    data = write_pattern_dataset(tmp_path / "data")
    item_file = data / "toy" / "toy.item"
    lines = item_file.read_text(encoding="utf-8").splitlines()
    assert lines[4].startswith("3\t")
    lines[4] = "3\tHorror Action\t1993"  # was 'Horror Romance'
    item_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    last = shutil.copy(V2 / "GRU4RecF-toy.last.pth", tmp_path / "GRU4RecF-toy.last.pth")
    config = small_config(data, epochs=5, log_dir=str(tmp_path / "log"), checkpoint_dir=str(tmp_path / "saved"),
                          embedding_size=8, hidden_size=8, train_mode="sequence", learning_rate=0.6, state="WARNING")
    with pytest.raises(CheckpointError, match="the dataset's contents differ"):
        run_gru4recf("GRU4RecF", "toy", config, resume=last)
