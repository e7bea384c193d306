"""Where a run writes, under real conditions: a folder below a regular file or on a read-only file
system is a one-line error naming the setting before any work; a disk that fills is reported once
(the log) or ends the run with one line and exit status 2 (checkpoints), and what was finished stays
whole. The file systems are real tmpfs mounts (skipped where this machine cannot mount)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gru4recf.cli import main
from gru4recf.search.cli import main as hyper_main
from gru4recf.training.checkpoint import read_checkpoint
from helpers import write_pattern_dataset

PREFIX = "gru4recf: error:"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_pattern_dataset(tmp_path_factory.mktemp("data"))


def run_args(data: Path, out: Path, epochs: int = 2, **paths) -> list:
    folders = {"log_dir": out / "log", "checkpoint_dir": out / "saved", "results_dir": out / "results", **paths}
    return ["--dataset=toy", f"--data_path={data}", f"--epochs={epochs}", "--train_batch_size=16",
            "--embedding_size=8", "--hidden_size=8", "--MAX_ITEM_LIST_LENGTH=5", "--show_progress=False",
            "--num_threads=1"] + [f"--{key}={value}" for key, value in folders.items()]


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size, read_only=False) -> a fresh tmpfs folder, unmounted after the test."""
    mounted = []

    def mount(size: str, read_only: bool = False) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], capture_output=True)


def one_error(capsys) -> str:
    """The one error line on stderr (the run's console log goes there too)."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith(PREFIX)]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    return lines[0]


def test_by_default_a_run_is_one_folder_and_its_resume_writes_into_that_folder_wherever_it_was_moved(
        data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the defaults are relative: nothing may land outside results/
    args = [a for a in run_args(data, tmp_path) if not a.startswith(("--log_dir", "--checkpoint_dir", "--results_dir"))]
    assert main(args) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]
    (folder,) = (tmp_path / "results").iterdir()
    run_id = folder.name
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == sorted(  # not the lock
        ["config.yaml", "epochs.jsonl", "results.json", f"{run_id}.log", f"{run_id}.pth", f"{run_id}.last.pth"])
    results = json.loads((folder / "results.json").read_text())
    assert results["best_checkpoint"] == str(Path("results") / run_id / f"{run_id}.pth")
    moved = tmp_path / "elsewhere" / run_id
    moved.parent.mkdir()
    folder.rename(moved)
    assert main(args + ["--epochs=3", f"--resume={moved / f'{run_id}.last.pth'}"]) == 0
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").iterdir())
    assert [row["epoch"] for row in map(json.loads, (moved / "epochs.jsonl").read_text().splitlines())] == [0, 1, 2]
    log = (moved / f"{run_id}.log").read_text()
    assert "epoch 0 training" in log and "resumed from" in log  # one log, continued


def test_run_experiment_called_directly_resumes_into_the_run_it_continues(data, tmp_path, monkeypatch):
    from gru4recf.experiment import load_config, run_experiment
    monkeypatch.chdir(tmp_path)
    args = [a for a in run_args(data, tmp_path) if not a.startswith(("--log_dir", "--checkpoint_dir", "--results_dir"))]
    assert main(args) == 0
    (folder,) = (tmp_path / "results").iterdir()
    settings = {a[2:].split("=")[0]: a.split("=", 1)[1] for a in args if a.startswith("--") and "=" in a}
    config = load_config(config_dict={**{k: v for k, v in settings.items() if k != "show_progress"},
                                      "epochs": 3, "show_progress": False, "num_threads": 1})
    outcome = run_experiment(config, resume=folder / f"{folder.name}.last.pth")
    assert Path(outcome["results_dir"]).resolve() == folder.resolve()  # the same run, not a new id
    assert [json.loads(line)["epoch"] for line in (folder / "epochs.jsonl").read_text().splitlines()] == [0, 1, 2]


@pytest.mark.parametrize("setting", ["checkpoint_dir", "results_dir", "log_dir"])
def test_a_folder_below_a_regular_file_is_named_before_any_work(setting, data, tmp_path, capsys):
    (tmp_path / "plain.txt").write_text("not a folder\n")
    below = tmp_path / "plain.txt" / "runs"
    assert main(run_args(data, tmp_path, **{setting: below})) == 2
    message = one_error(capsys)
    assert f"{setting} {below}" in message and "Not a directory" in message
    assert not (tmp_path / "saved").exists() or not list((tmp_path / "saved").glob("*.pth"))  # nothing trained


def test_a_read_only_file_system_is_named_before_any_work(data, tmp_path, tmpfs, capsys):
    read_only = tmpfs("1m", read_only=True)
    assert main(run_args(data, tmp_path, checkpoint_dir=read_only / "saved")) == 2
    message = one_error(capsys)
    assert f"checkpoint_dir {read_only / 'saved'} cannot be written: Read-only file system" in message
    (log,) = (tmp_path / "log").rglob("*.log")
    assert "epoch 0 training" not in log.read_text()


def test_a_log_file_on_a_disk_that_fills_is_reported_once_and_the_run_finishes(data, tmp_path, tmpfs, capsys):
    tiny = tmpfs("64k")
    (tiny / "filler").write_bytes(b"x" * (60 * 1024))  # one 4 KiB page left: the log outgrows it in epoch 0
    assert main(run_args(data, tmp_path, epochs=3, log_dir=tiny)) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "cannot write the log file" in line]
    assert len(warnings) == 1 and "No space left on device" in warnings[0]
    assert "Logging error" not in err and "Traceback" not in err
    (results,) = (tmp_path / "results").iterdir()
    assert (results / "results.json").is_file()  # the run's results are whole


def test_checkpoints_on_a_disk_that_fills_end_the_run_with_one_line_and_keep_the_finished_one(
        data, tmp_path, tmpfs, capsys):
    small = tmpfs("60k")  # room for the first best checkpoint (~12 KB), not for a 'last' one (~50 KB) beside it
    assert main(run_args(data, tmp_path, epochs=3, checkpoint_dir=small)) == 2
    message = one_error(capsys)
    assert "cannot write checkpoint" in message and "No space left on device" in message
    (best,) = [p for p in small.glob("*.pth") if not p.name.endswith(".last.pth")]
    assert read_checkpoint(best).meta["epoch"] == 0  # whole, and its digest checks
    assert not list(small.glob(".*.tmp"))  # no temporary file left behind


def test_a_search_whose_results_folder_cannot_be_written_stops_before_the_first_trial(data, tmp_path, capsys):
    (tmp_path / "params.test").write_text("learning_rate choice [0.01, 0.02]\n")
    (tmp_path / "plain.txt").write_text("not a folder\n")
    out = tmp_path / "plain.txt" / "h.jsonl"
    status = hyper_main(["--dataset=toy", f"--data_path={data}", f"--params_file={tmp_path / 'params.test'}",
                         f"--output_file={out}", f"--log_dir={tmp_path / 'log'}", "--show_progress=False"])
    assert status == 2
    assert "output_file's folder" in one_error(capsys)
    assert not (tmp_path / "log").exists()  # no trial started


# ---- two processes on the same files ------------------------------------------------------------

@pytest.fixture
def holder():
    """hold(path) -> a real second process holding gru4recf's lock of `path` until killed."""
    started = []

    def hold(path: Path) -> subprocess.Popen:
        code = ("import sys, time\nfrom gru4recf.locks import exclusive\n"
                "with exclusive(sys.argv[1], 'file'):\n    print('held', flush=True)\n    time.sleep(120)\n")
        process = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True,
                                   env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        assert process.stdout.readline().strip() == "held"
        started.append(process)
        return process

    yield hold
    for process in started:
        process.kill()
        process.wait()


def test_a_search_on_a_results_file_another_search_holds_is_refused_naming_the_holder(data, tmp_path, capsys,
                                                                                     holder):
    (tmp_path / "params.test").write_text("learning_rate choice [0.01]\n")
    out = tmp_path / "h.jsonl"
    args = ["--dataset=toy", f"--data_path={data}", f"--params_file={tmp_path / 'params.test'}",
            f"--output_file={out}", f"--log_dir={tmp_path / 'log'}", "--show_progress=False", "--epochs=1",
            "--embedding_size=8", "--hidden_size=8", "--num_threads=1"]
    other = holder(out)
    assert hyper_main(args) == 2
    message = one_error(capsys)
    assert f"search results file {out} is in use by process {other.pid}" in message
    assert not out.exists()  # nothing written over the holder's work
    other.kill()
    other.wait()  # the kernel releases a killed holder's lock: no stale lock to clean up
    assert hyper_main(args) == 0 and len(out.read_text().splitlines()) == 1


def test_resuming_a_checkpoint_another_run_holds_is_refused_naming_the_holder(data, tmp_path, capsys, holder):
    assert main(run_args(data, tmp_path, epochs=1)) == 0
    (last,) = (tmp_path / "saved").glob("*.last.pth")
    before = last.read_bytes()
    capsys.readouterr()
    other = holder(last)
    assert main(run_args(data, tmp_path, epochs=2) + [f"--resume={last}"]) == 2
    assert f"resumable checkpoint {last} is in use by process {other.pid}" in one_error(capsys)
    assert last.read_bytes() == before


def test_a_trial_whose_log_cannot_be_written_is_a_failed_row_and_the_search_goes_on(data, tmp_path, capsys):
    (tmp_path / "params.test").write_text("learning_rate choice [0.01, 0.02]\n")
    (tmp_path / "plain.txt").write_text("not a folder\n")
    out = tmp_path / "h.jsonl"
    status = hyper_main(["--dataset=toy", f"--data_path={data}", f"--params_file={tmp_path / 'params.test'}",
                         f"--output_file={out}", f"--log_dir={tmp_path / 'plain.txt' / 'log'}",
                         "--show_progress=False", "--epochs=1", "--num_threads=1"])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["status"] for row in rows] == ["failed", "failed"]
    assert all("log_dir" in row["error"] and "Not a directory" in row["error"] for row in rows)
    assert status == 1 and "all 2 trials failed; the errors are in" in capsys.readouterr().err  # both ran


def test_resuming_a_checkpoint_in_a_read_only_folder_is_one_line(data, tmp_path, tmpfs, capsys):
    assert main(run_args(data, tmp_path, epochs=1)) == 0
    (last,) = (tmp_path / "saved").glob("*.last.pth")
    frozen = tmpfs("2m")
    copy = frozen / last.name
    copy.write_bytes(last.read_bytes())
    subprocess.run(["mount", "-o", "remount,ro", str(frozen)], check=True)
    capsys.readouterr()
    assert main(run_args(data, tmp_path, epochs=2) + [f"--resume={copy}"]) == 2
    assert f"resumable checkpoint {copy}: cannot create its lock file" in one_error(capsys)


def test_results_files_on_a_disk_that_fills_are_one_error_naming_the_file_and_keep_the_last_whole(tmp_path, tmpfs):
    from gru4recf.errors import OutputError
    from gru4recf.training.results import RunResults, read_epochs

    disk = tmpfs("16k")
    results = RunResults(disk / "run")
    results.add_epoch({"epoch": 0, "train_loss": 1.0})
    try:
        while True:  # fill what is left, page by page
            with open(disk / "filler", "ab") as handle:
                handle.write(b"x" * 4096)
    except OSError:
        pass
    with pytest.raises(OutputError, match=r"cannot write results file .*epochs.jsonl: No space left on device; "
                                          r"what the run wrote before is unchanged"):
        results.add_epoch({"epoch": 1, "train_loss": 0.5, "padding": "y" * 8000})
    assert read_epochs(disk / "run") == [{"epoch": 0, "train_loss": 1.0}]
    assert not list((disk / "run").glob(".*.tmp"))


def test_processes_checking_one_folder_at_once_do_not_fail_each_other(tmp_path):
    """A search's workers check the shared log folder at the same moment: one's probe file must not
    be removed under another (this failed a CI run as 'No such file or directory')."""
    script = ("import sys\nfrom gru4recf.atomic_write import check_writable\n"
              "for _ in range(300):\n    check_writable(sys.argv[1], 'log_dir')\n")
    folder = tmp_path / "shared"
    workers = [subprocess.Popen([sys.executable, "-c", script, str(folder)], stderr=subprocess.PIPE)
               for _ in range(4)]
    failures = [w.stderr.read().decode() for w in workers if w.wait() != 0]
    assert failures == [] and list(folder.iterdir()) == []
