"""End to end on a small generated dataset: run_gru4recf trains, learns, saves and reproduces."""
import json
from pathlib import Path

import pytest
import torch
import yaml

from gru4recf import run_gru4recf
from gru4recf.training.checkpoint import load_checkpoint
from gru4recf.training.results import read_epochs
from helpers import small_config, write_pattern_dataset

KEYS = {"recall@5", "recall@10", "mrr@5", "mrr@10", "ndcg@5", "ndcg@10", "hit@5", "hit@10",
        "precision@5", "precision@10"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_pattern_dataset(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("model", ["GRU4RecF", "GRU4Rec"])
def test_training_learns_a_predictable_pattern(model, data_dir, tmp_path):
    config = small_config(data_dir, dataset="toy", epochs=15, log_dir=str(tmp_path / "log"),
                          checkpoint_dir=str(tmp_path / "saved"), dropout_prob=0.0)
    result = run_gru4recf(model, "toy", config, saved=True)
    assert set(result) == {"best_valid_score", "valid_score_bigger", "best_valid_result", "test_result", "results_dir"}
    assert set(result["test_result"]) == KEYS
    assert result["best_valid_score"] == result["best_valid_result"]["mrr@10"]
    # 30 items: a random ranking puts the target in the top 10 a third of the time.
    assert result["test_result"]["hit@10"] > 0.8


def test_bpr_with_sampled_negatives_runs_and_learns(data_dir, tmp_path):
    config = small_config(data_dir, epochs=15, log_dir=str(tmp_path / "log"), dropout_prob=0.0, loss_type="BPR",
                          train_neg_sample_args={"distribution": "popularity", "sample_num": 2})
    result = run_gru4recf("GRU4RecF", "toy", config, saved=False)
    assert result["test_result"]["hit@10"] > 0.6


def test_same_seed_gives_identical_results(data_dir, tmp_path):
    config = small_config(data_dir, epochs=2, log_dir=str(tmp_path / "log"))
    first = run_gru4recf("GRU4RecF", "toy", config, saved=False)
    second = run_gru4recf("GRU4RecF", "toy", config, saved=False)
    other_seed = run_gru4recf("GRU4RecF", "toy", dict(config, seed=7), saved=False)
    assert first == second
    assert other_seed["best_valid_result"] != first["best_valid_result"]


def test_best_checkpoint_and_log_file_are_written(data_dir, tmp_path):
    config = small_config(data_dir, epochs=2, log_dir=str(tmp_path / "log"), checkpoint_dir=str(tmp_path / "saved"))
    result = run_gru4recf("GRU4RecF", "toy", config, saved=True)
    (checkpoint,) = [p for p in (tmp_path / "saved").glob("GRU4RecF-toy-*.pth") if not p.name.endswith(".last.pth")]
    state, meta = load_checkpoint(checkpoint)
    assert meta["model"] == "GRU4RecF" and meta["best_valid_score"] == result["best_valid_score"]
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    json.dumps(meta)
    (log,) = (tmp_path / "log" / "GRU4RecF").glob("*.log")
    text = log.read_text()
    assert "epoch 0 training" in text and "test result" in text and "toy: 60 users, 31 items" in text
    assert "configuration:\nmodel = 'GRU4RecF'" in text  # the whole configuration, in the file only
    assert not list((tmp_path / "saved").glob("*.tmp"))


def test_a_run_leaves_a_results_folder_named_by_its_run_id(data_dir, tmp_path):
    config = small_config(data_dir, epochs=3, log_dir=str(tmp_path / "log"), checkpoint_dir=str(tmp_path / "saved"),
                          results_dir=str(tmp_path / "results"))
    result = run_gru4recf("GRU4RecF", "toy", config, saved=True)
    folder = Path(result["results_dir"])
    run_id = folder.name
    assert folder.parent == tmp_path / "results" and run_id.startswith("GRU4RecF-toy-")
    assert (tmp_path / "saved" / f"{run_id}.pth").is_file() and (tmp_path / "saved" / f"{run_id}.last.pth").is_file()
    assert (tmp_path / "log" / "GRU4RecF" / f"{run_id}.log").is_file()
    assert yaml.safe_load((folder / "config.yaml").read_text())["learning_rate"] == config["learning_rate"]
    rows = read_epochs(folder)
    assert [row["epoch"] for row in rows] == [0, 1, 2]
    assert all(row["train_loss"] > 0 and 0 <= row["mrr@10"] <= 1 for row in rows)
    best = max(rows, key=lambda row: (row["mrr@10"], -row["epoch"]))  # ties keep the earlier epoch
    final = json.loads((folder / "results.json").read_text())
    assert final["best_epoch"] == best["epoch"] == rows[-1]["best_epoch"]
    assert final["test_result"] == dict(result["test_result"])
    assert final["best_valid_result"] == {k: v for k, v in best.items() if "@" in k}


def test_early_stopping_follows_recbole_rule(data_dir, tmp_path):
    # With stopping_step=0 training stops at the first validation that does not improve.
    config = small_config(data_dir, epochs=50, stopping_step=0, learning_rate=0.5, log_dir=str(tmp_path / "log"))
    run_gru4recf("GRU4Rec", "toy", config, saved=False)
    (log,) = (tmp_path / "log" / "GRU4Rec").glob("*.log")
    text = log.read_text()
    trained = text.count(" training [")
    best = int(text.split("best eval result in epoch ")[1].split()[0])
    assert trained == best + 2  # the first validation without improvement ends training


@pytest.mark.parametrize("architecture, strategy", [
    ("id", "simultaneous"), ("feature", "simultaneous"), ("concat", "simultaneous"), ("weighted", "simultaneous"),
    ("parallel", "alternating"), ("parallel", "residual"), ("weighted", "interleaving"), ("weighted", "residual")])
def test_every_architecture_and_strategy_runs_from_config_keys(architecture, strategy, data_dir, tmp_path):
    config = small_config(data_dir, epochs=4, stopping_step=1, log_dir=str(tmp_path / "log"),
                          architecture=architecture, training_strategy=strategy, learn_subnet_weights=True)
    result = run_gru4recf("GRU4RecF", "toy", config, saved=False)
    assert set(result["test_result"]) == KEYS
    assert 0 <= result["test_result"]["mrr@10"] <= 1
