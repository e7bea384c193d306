"""Resuming a killed run: it ends with exactly the metrics of the uninterrupted run (CPU, fixed
seed), in both training modes and from any epoch; a missing or mismatched checkpoint is an error,
never a silent fresh start."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from gru4recf import run_gru4recf
from gru4recf.errors import CheckpointError
from gru4recf.training.checkpoint import RunCheckpoints, read_checkpoint, save_checkpoint
from gru4recf.training.results import read_epochs
from helpers import metrics_of, small_config, write_pattern_dataset

REPO = Path(__file__).resolve().parents[1]

# The child trains like run_gru4recf, but after writing epoch 1's 'last' checkpoint (2 epochs done)
# it says so and then hangs, so that the parent kills it at a known point however loaded the
# machine is. With 'best_first' or 'last_first' it hangs instead between the two files of the
# first improving epoch after epoch 0 whose writes come in that order (the best file, then the
# 'last' one; or the other way round).
CHILD = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from gru4recf import run_gru4recf
    from gru4recf.training import checkpoint
    from gru4recf.training.checkpoint import RunCheckpoints

    config, marker, where = json.loads(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    save_last, write_payload = RunCheckpoints.save_last, checkpoint.write_payload

    def hang(last_path):
        marker.write_text(str(last_path))
        time.sleep(600)

    def save_and_hang(self, state_dict, epoch, *args):
        wrote_best = save_last(self, state_dict, epoch, *args)
        if epoch == 1:
            hang(self.last_path)
        return wrote_best

    written = []

    def hang_between_files(path, payload):
        meta = json.loads(payload["meta"])
        second = "last" if where == "best_first" else "best"
        if meta["epoch"] >= 1 and meta["kind"] == second and written[-1] == (meta["epoch"], {"last": "best",
                                                                                               "best": "last"}[second]):
            hang(path if meta["kind"] == "last" else checkpoint.last_checkpoint_path(path))
        written.append((meta["epoch"], meta["kind"]))
        write_payload(path, payload)

    if where == "after_epoch":
        RunCheckpoints.save_last = save_and_hang
    else:
        checkpoint.write_payload = hang_between_files
    run_gru4recf("GRU4RecF", "toy", config, saved=True)
""")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_pattern_dataset(tmp_path_factory.mktemp("data"), n_users=30, length=8)


def config_for(data_dir, tmp_path, **overrides) -> dict:
    settings = dict(dataset="toy", epochs=4, log_dir=str(tmp_path / "log"), checkpoint_dir=str(tmp_path / "saved"),
                    results_dir=str(tmp_path / "results"),
                    state="WARNING")
    return small_config(data_dir, **dict(settings, **overrides))


def last_checkpoints(folder: Path) -> list:
    return sorted(folder.glob("*.last.pth"))


def kill_after_epoch_2(config: dict, tmp_path: Path, where: str = "after_epoch") -> Path:
    """Runs training in a child process and SIGKILLs it right after its epoch-2 checkpoint (with
    `where` 'best_first' or 'last_first': between the two files of an improving epoch, see
    CHILD); returns the 'last' checkpoint's path."""
    marker = tmp_path / "epoch-2-saved"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(config), str(marker), where], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the child never finished epoch 2"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    return Path(marker.read_text())


def test_run_killed_after_epoch_2_and_resumed_ends_like_the_uninterrupted_run(data_dir, tmp_path):
    config = config_for(data_dir, tmp_path)
    uninterrupted = run_gru4recf("GRU4RecF", "toy", dict(config, checkpoint_dir=str(tmp_path / "whole")))

    last = kill_after_epoch_2(config, tmp_path)
    checkpoint = read_checkpoint(last)
    assert checkpoint.meta["epoch"] == 1 and checkpoint.meta["training"]["next_epoch"] == 2
    stale = last.with_name(f".{last.name}.k1ll3d.tmp")  # what a write killed by SIGKILL leaves
    stale.write_bytes(b"half a checkpoint")
    resumed = run_gru4recf("GRU4RecF", "toy", config, resume=last)
    assert not stale.exists()  # the resumed run removed its own stale temporary file

    assert metrics_of(resumed) == metrics_of(uninterrupted)
    assert read_checkpoint(last).meta["epoch"] == 3  # the resumed run went on writing the same files
    timeless = lambda rows: [{k: v for k, v in row.items() if "seconds" not in k} for row in rows]
    rows = read_epochs(Path(resumed["results_dir"]))  # the killed run's folder, continued: each epoch once
    assert [row["epoch"] for row in rows] == [0, 1, 2, 3]
    assert timeless(rows) == timeless(read_epochs(Path(uninterrupted["results_dir"])))
    assert not list((tmp_path / "saved").glob("*.tmp"))
    assert same_weights(best_of(last), only_best(tmp_path / "whole"))


def best_of(last: Path) -> Path:
    return last.with_name(last.name.replace(".last.pth", ".pth"))


def only_best(folder: Path) -> Path:
    (best,) = [path for path in folder.glob("*.pth") if not path.name.endswith(".last.pth")]
    return best


def same_weights(a: Path, b: Path) -> bool:
    first, second = read_checkpoint(a).state_dict, read_checkpoint(b).state_dict
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def kill_point(rows: list, order: str) -> tuple:
    """(epoch of the 'last' file, epoch of the best file) that the child leaves when it hangs
    between the two files of the first improving epoch after epoch 0 that writes them in `order`:
    after an improving epoch the best file goes first ('best_first'); after stale epochs, whose
    'last' files name the older best file, the 'last' file goes first ('last_first')."""
    improving = [row["epoch"] for row in rows if row["best_epoch"] == row["epoch"]]
    for epoch in improving[1:]:
        if order == "best_first" and epoch - 1 in improving:
            return epoch - 1, epoch
        if order == "last_first" and epoch - 1 not in improving:
            return epoch, max(e for e in improving if e < epoch)
    pytest.fail(f"the uninterrupted run has no improving epoch that writes {order}: improving {improving}")


@pytest.mark.parametrize("order, settings", [
    ("best_first", {}),  # epoch 1 improves: its best file is written, then the kill
    # some epochs are stale ('last' files naming an earlier best file), then one improves: its
    # 'last' file must replace them before the best file is overwritten; the kill comes between
    ("last_first", {"epochs": 20, "stopping_step": 3, "learning_rate": 0.3})])
def test_a_run_killed_between_the_two_files_of_an_improving_epoch_resumes_exactly(order, settings, data_dir,
                                                                                   tmp_path):
    """Whichever file went first, the pair left behind resumes: the 'last' file holds the best
    weights as its own, and the resumed run rewrites the best file that does not match them; it
    ends with the uninterrupted run's metrics and best file."""
    config = config_for(data_dir, tmp_path, **settings)
    uninterrupted = run_gru4recf("GRU4RecF", "toy", dict(config, checkpoint_dir=str(tmp_path / "whole")))
    last_epoch, best_epoch = kill_point(read_epochs(Path(uninterrupted["results_dir"])), order)

    last = kill_after_epoch_2(config, tmp_path, order)
    checkpoint = read_checkpoint(last)
    assert checkpoint.meta["epoch"] == last_epoch and checkpoint.meta["best_weights"]["in"] == "state_dict"
    assert read_checkpoint(best_of(last)).meta["epoch"] == best_epoch  # not the best file the 'last' one expects
    resumed = run_gru4recf("GRU4RecF", "toy", config, resume=last)
    assert metrics_of(resumed) == metrics_of(uninterrupted)
    assert same_weights(best_of(last), only_best(tmp_path / "whole"))


AUTHORS = {"loss_type": "BPR-max", "n_sample": 8, "learner": "adagrad_momentum", "momentum": 0.5,
           "constrained_embedding": True, "output_bias": True, "hidden_dropout_prob": 0.2}  # the authors' GRU4Rec


@pytest.mark.parametrize("train_mode, model, strategy, extra", [("augment", "GRU4Rec", "simultaneous", {}),
                                                             ("sequence", "GRU4Rec", "simultaneous", {}),
                                                             ("sequence", "GRU4RecF", "residual", {}),
                                                             ("sequence", "BERT4Rec", "simultaneous",
                                                              {"segment_length": 3, "warmup_length": 1}),
                                                             ("session_parallel", "GRU4Rec", "simultaneous", AUTHORS)])
def test_resuming_from_any_epoch_continues_early_stopping_identically(train_mode, model, strategy, extra, data_dir,
                                                                      tmp_path, monkeypatch):
    # A high learning rate makes validation scores fall back, so early stopping (stopping_step=1)
    # has stale counters to carry over and ends the run before `epochs`; dropout draws from the
    # torch generator, whose state the checkpoint must carry. Residual training must also carry
    # its phase (which subnet trains).
    config = config_for(data_dir, tmp_path, model=model, epochs=20, stopping_step=1, learning_rate=0.3,
                        train_mode=train_mode, training_strategy=strategy, **extra)
    copies = tmp_path / "copies"
    copies.mkdir()
    save_last = RunCheckpoints.save_last

    def save_and_copy(self, state_dict, epoch, *args):  # the run's two files as they are after each epoch
        wrote_best = save_last(self, state_dict, epoch, *args)
        (copies / f"epoch-{epoch}").mkdir()
        shutil.copy(self.last_path, copies / f"epoch-{epoch}" / self.last_path.name)
        shutil.copy(self.best_path, copies / f"epoch-{epoch}" / self.best_path.name)
        return wrote_best

    monkeypatch.setattr(RunCheckpoints, "save_last", save_and_copy)
    uninterrupted = run_gru4recf(model, "toy", config)
    monkeypatch.undo()
    saved = sorted(copies.glob("epoch-*/*.last.pth"), key=lambda p: int(p.parent.name.split("-")[1]))
    progress = [read_checkpoint(path).meta["training"] for path in saved]
    assert progress[-1]["stopped"] and len(saved) < config["epochs"], "the run should stop early"
    assert any(p["stale"] > 0 and not p["stopped"] for p in progress), "no epoch with a stale counter"
    if strategy == "residual":
        assert progress[0]["phase"] == 0 and progress[-1]["phase"] == 1, "the run should reach the second subnet"

    for path in saved:
        folder = shutil.copytree(path.parent, tmp_path / path.parent.name)
        resume_from = folder / path.name
        assert metrics_of(run_gru4recf(model, "toy", config, resume=resume_from)) == metrics_of(uninterrupted), \
            path.parent.name


def test_a_finished_run_can_be_extended_by_raising_epochs(data_dir, tmp_path):
    config = config_for(data_dir, tmp_path, epochs=2)
    run_gru4recf("GRU4RecF", "toy", config)
    (last,) = last_checkpoints(tmp_path / "saved")
    extended = run_gru4recf("GRU4RecF", "toy", dict(config, epochs=4), resume=last)
    fresh = run_gru4recf("GRU4RecF", "toy", dict(config, epochs=4, checkpoint_dir=str(tmp_path / "b")))
    assert metrics_of(extended) == metrics_of(fresh)


def test_same_seed_gives_identical_results_in_sequence_mode(data_dir, tmp_path):
    config = config_for(data_dir, tmp_path, epochs=2, train_mode="sequence")
    assert metrics_of(run_gru4recf("GRU4RecF", "toy", config, saved=False)) == \
        metrics_of(run_gru4recf("GRU4RecF", "toy", config, saved=False))


# ---- resuming never silently starts from scratch ---------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(data_dir, tmp_path_factory):
    """(config, last checkpoint, best checkpoint) of a 1-epoch run."""
    tmp_path = tmp_path_factory.mktemp("run")
    config = config_for(data_dir, tmp_path, epochs=1)
    run_gru4recf("GRU4RecF", "toy", config)
    (last,) = last_checkpoints(tmp_path / "saved")
    return config, last, Path(str(last).replace(".last.pth", ".pth"))


def resume_error(config: dict, path, model: str = "GRU4RecF") -> str:
    with pytest.raises(CheckpointError) as caught:
        run_gru4recf(model, "toy", config, resume=path)
    return str(caught.value)


def test_missing_checkpoint_is_an_error(finished_run, tmp_path):
    config, _, _ = finished_run
    message = resume_error(config, tmp_path / "gone.last.pth")
    assert "gone.last.pth" in message and "does not exist" in message


def test_other_settings_are_refused_naming_each_key(finished_run):
    config, last, _ = finished_run
    message = resume_error(dict(config, learning_rate=0.02, hidden_size=32), last)
    assert "cannot resume from" in message and str(last) in message
    assert "learning_rate (checkpoint 0.01, now 0.02)" in message and "hidden_size (checkpoint 16, now 32)" in message
    assert "epochs" not in message


def test_other_model_is_refused(finished_run):
    config, last, _ = finished_run
    assert "model (checkpoint 'GRU4RecF', now 'GRU4Rec')" in resume_error(config, last, model="GRU4Rec")


def test_changed_data_is_refused(finished_run, tmp_path):
    config, last, _ = finished_run
    changed = write_pattern_dataset(tmp_path / "data", n_users=30, length=8, seed=1)
    message = resume_error(dict(config, data_path=str(changed)), last)
    assert "dataset's contents differ" in message


def test_best_model_checkpoint_is_not_resumable(finished_run):
    config, _, best = finished_run
    message = resume_error(config, best)
    assert "best-model checkpoint without training state" in message and ".last.pth" in message


def test_only_where_and_how_fast_may_change(finished_run, tmp_path):
    config, last, _ = finished_run
    moved = shutil.copy(last, tmp_path / "moved.last.pth")
    result = run_gru4recf("GRU4RecF", "toy", dict(config, num_threads=2, show_progress=True,
                                                 log_dir=str(tmp_path / "other-log")), resume=moved)
    assert result["best_valid_score"] == read_checkpoint(last).meta["best_valid_score"]


def test_damaged_training_state_is_refused(finished_run, tmp_path):
    config, last, _ = finished_run
    checkpoint = read_checkpoint(last)
    progress = {k: v for k, v in checkpoint.meta["training"].items() if k != "stale"}
    save_checkpoint(tmp_path / "damaged.last.pth", checkpoint.state_dict, dict(checkpoint.meta, training=progress),
                    checkpoint.meta["item_tokens"], checkpoint.feature_fields(), checkpoint.training)
    assert "training state is damaged" in resume_error(config, tmp_path / "damaged.last.pth")


# ---- the best weights are stored once ---------------------------------------------------------

@pytest.fixture(scope="module")
def stopped_run(data_dir, tmp_path_factory):
    """(config, result, last checkpoint, best checkpoint) of a run that early-stopped two epochs
    after its best one, so its 'last' checkpoint's weights are not the best."""
    tmp_path = tmp_path_factory.mktemp("stopped")
    config = config_for(data_dir, tmp_path, epochs=20, stopping_step=1, learning_rate=0.3)
    result = run_gru4recf("GRU4RecF", "toy", config)
    (last,) = last_checkpoints(tmp_path / "saved")
    return config, result, last, best_of(last)


def test_the_last_checkpoint_refers_to_the_best_file_instead_of_copying_it(stopped_run):
    _, _, last, best = stopped_run
    checkpoint = read_checkpoint(last)
    assert checkpoint.meta["training"]["best_epoch"] < checkpoint.meta["epoch"]
    assert set(checkpoint.training) == {"optimizer", "rng"}  # no second copy of the weights
    assert checkpoint.meta["best_weights"] == {"in": "best_checkpoint", "file": best.name,
                                               "digest": read_checkpoint(best).digest}
    assert read_checkpoint(best).meta["epoch"] == checkpoint.meta["training"]["best_epoch"]


def test_resuming_a_stopped_run_tests_the_best_weights_from_the_best_file(stopped_run, tmp_path):
    config, result, last, best = stopped_run
    for path in (last, best):
        shutil.copy(path, tmp_path / path.name)
    resumed = run_gru4recf("GRU4RecF", "toy", config, resume=tmp_path / last.name)  # stopped: nothing trains
    assert metrics_of(resumed) == metrics_of(result)


def test_a_missing_best_file_is_named_and_nothing_trains(stopped_run, tmp_path):
    config, _, last, best = stopped_run
    moved = shutil.copy(last, tmp_path / last.name)
    message = resume_error(dict(config, epochs=30), moved)
    assert message == (f"cannot resume from {moved}: the run's best weights are in {tmp_path / best.name}, which "
                       "does not exist; keep the run's best checkpoint beside its .last.pth (both files are needed "
                       "to resume)")
    assert read_checkpoint(moved).meta["epoch"] == read_checkpoint(last).meta["epoch"]


def test_a_best_file_replaced_by_another_is_refused(stopped_run, finished_run, tmp_path):
    config, _, last, best = stopped_run
    moved = shutil.copy(last, tmp_path / last.name)
    shutil.copy(finished_run[2], tmp_path / best.name)  # another run's (valid) best checkpoint
    message = resume_error(dict(config, epochs=30), moved)
    assert message.startswith(f"cannot resume from {moved}: the run's best weights are in {tmp_path / best.name}, "
                              "which is not the file written with it")


def test_a_corrupt_best_file_is_refused_as_corrupt(stopped_run, tmp_path):
    config, _, last, best = stopped_run
    moved = shutil.copy(last, tmp_path / last.name)
    copy = shutil.copy(best, tmp_path / best.name)
    weights = read_checkpoint(copy).state_dict["item_embedding.weight"]
    data = bytearray(copy.read_bytes())
    data[data.find(weights.numpy().tobytes()) + 3] ^= 0x01
    copy.write_bytes(bytes(data))
    assert f"checkpoint {copy} is corrupt" in resume_error(dict(config, epochs=30), moved)


def test_a_last_checkpoint_that_does_not_say_where_its_best_weights_are_is_refused(finished_run, tmp_path):
    config, last, _ = finished_run
    checkpoint = read_checkpoint(last)
    meta = {k: v for k, v in checkpoint.meta.items() if k != "best_weights"}
    save_checkpoint(tmp_path / "damaged.last.pth", checkpoint.state_dict, meta, checkpoint.meta["item_tokens"],
                    checkpoint.feature_fields(), checkpoint.training)
    assert resume_error(config, tmp_path / "damaged.last.pth") == (
        f"cannot resume from {tmp_path / 'damaged.last.pth'}: its training state is damaged or incomplete (it does "
        "not say where its best weights are)")


def test_a_corrupt_last_checkpoint_is_refused_and_nothing_trains(data_dir, tmp_path):
    config = config_for(data_dir, tmp_path, epochs=2)
    run_gru4recf("GRU4RecF", "toy", config)
    (last,) = last_checkpoints(tmp_path / "saved")
    weights = read_checkpoint(last).state_dict["item_embedding.weight"]
    data = bytearray(last.read_bytes())
    data[data.find(weights.numpy().tobytes()) + 3] ^= 0x01
    last.write_bytes(bytes(data))
    before = last.read_bytes()
    with pytest.raises(CheckpointError, match="is corrupt"):
        run_gru4recf("GRU4RecF", "toy", dict(config, epochs=4), resume=last)
    assert last.read_bytes() == before  # refused before any training wrote over it
