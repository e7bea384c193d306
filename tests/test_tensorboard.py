"""TensorBoard logging (`log_tensorboard`): the event files, read back with tensorboard's own
reader, hold exactly the rows of epochs.jsonl; a killed and resumed run has every epoch once; and
without the package the run is one line naming the extra, before any work."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gru4recf import run_gru4recf
from gru4recf.training.results import read_epochs
from helpers import small_config, write_pattern_dataset
from test_resume import REPO, kill_after_epoch_2

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_pattern_dataset(tmp_path_factory.mktemp("data"), n_users=30, length=8)


def scalars(folder: Path) -> dict:
    """{tag: [(step, value), ...]} of every event file in `folder`, in the order written."""
    reader = EventAccumulator(str(folder))
    reader.Reload()
    return {tag: [(event.step, event.value) for event in reader.Scalars(tag)] for tag in reader.Tags()["scalars"]}


def expected(rows: list) -> dict:
    """The scalars the rows of epochs.jsonl should give, computed from the rows themselves."""
    tags = {"train_loss": "train/loss", "train_seconds": "train/seconds", "seconds": "epoch/seconds",
            "mrr@10": "valid/mrr@10", "recall@5": "valid/recall@5", "ndcg@10": "valid/ndcg@10"}
    return {tag: [(row["epoch"], row[key]) for row in rows] for key, tag in tags.items()}


def assert_same(found: dict, wanted: dict) -> None:
    for tag, points in wanted.items():
        assert [step for step, _ in found[tag]] == [step for step, _ in points], tag
        assert found[tag] == [(step, pytest.approx(value, rel=1e-6)) for step, value in points], tag  # float32


def test_each_epoch_row_becomes_one_scalar_per_metric(data, tmp_path):
    result = run_gru4recf("GRU4RecF", "toy", small_config(data, dataset="toy", epochs=3, log_tensorboard=True,
                                                          state="WARNING", log_dir=str(tmp_path / "log"),
                                                          checkpoint_dir=str(tmp_path / "saved"),
                                                          results_dir=str(tmp_path / "results")))
    folder = Path(result["results_dir"])
    rows = read_epochs(folder)
    found = scalars(folder / "tensorboard")
    metrics = [key for key in rows[0] if "@" in key]
    assert len(rows) == 3 and len(metrics) == 10  # 5 metrics at 5 and 10
    assert set(found) == {"train/loss", "train/seconds", "epoch/seconds"} | {f"valid/{key}" for key in metrics}
    assert_same(found, expected(rows))


def test_a_killed_run_resumed_has_every_epoch_once(data, tmp_path):
    config = small_config(data, dataset="toy", epochs=4, log_tensorboard=True, state="WARNING",
                          log_dir=str(tmp_path / "log"), checkpoint_dir=str(tmp_path / "saved"),
                          results_dir=str(tmp_path / "results"))
    last = kill_after_epoch_2(config, tmp_path)  # epochs 0 and 1 written, then SIGKILL
    (folder,) = (tmp_path / "results").iterdir()
    stale = SummaryWriter(str(folder / "tensorboard"))  # what a kill between the row and the checkpoint leaves
    stale.add_scalar("valid/mrr@10", -1.0, 2)
    stale.close()
    resumed = run_gru4recf("GRU4RecF", "toy", config, resume=last)
    rows = read_epochs(Path(resumed["results_dir"]))
    assert [row["epoch"] for row in rows] == [0, 1, 2, 3]
    assert_same(scalars(folder / "tensorboard"), expected(rows))  # the stale step 2 was purged


BLOCKED = textwrap.dedent("""
    import sys
    class NoTensorBoard:
        def find_spec(self, name, path=None, target=None):
            if name == "tensorboard" or name.startswith("tensorboard."):
                raise ModuleNotFoundError(f"No module named {name!r}")
    sys.meta_path.insert(0, NoTensorBoard())
    from gru4recf.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_without_the_package_the_run_is_one_line_naming_the_extra(data, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", BLOCKED, "--dataset=toy", f"--data_path={data}", "--epochs=1",
                           "--log_tensorboard=True", f"--results_dir={tmp_path / 'results'}", "--num_threads=1",
                           "--show_progress=False"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("gru4recf: error:")]
    assert errors == ["gru4recf: error: log_tensorboard is True but the tensorboard package is not installed: "
                      "pip install 'gru4recf[tensorboard]'"], done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "epoch 0 training" not in done.stderr
    assert not list((tmp_path / "results").rglob("*.pth"))


def test_a_resumed_runs_event_file_sorts_after_the_killed_runs(tmp_path):
    from gru4recf.training.tensorboard import sort_after_existing
    import time
    now = int(time.time())
    (tmp_path / f"events.out.tfevents.{now}.host.99999.0").write_bytes(b"")  # the killed run's, this second
    sort_after_existing(tmp_path)
    assert int(time.time()) > now  # a file created now is named after it
