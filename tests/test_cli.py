"""Command line: a user error ends the run with exit status 2 and one 'gru4recf: error:' line on
stderr that says what is wrong, never a traceback."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gru4recf.cli import main
from helpers import write_pattern_dataset

REPO = Path(__file__).resolve().parents[1]
PREFIX = "gru4recf: error:"




def error_lines(stderr: str) -> list:
    return [line for line in stderr.splitlines() if line.startswith(PREFIX)]


def test_bad_key_exits_2_with_one_error_line(capsys):
    assert main(["--learing_rate=0.1"]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == error_lines(captured.err)  # nothing but the error...
    assert len(error_lines(captured.err)) == 1                    # ...on exactly one line
    assert "learing_rate" in captured.err and "did you mean 'learning_rate'" in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_arg_without_value_exits_2_and_names_it(capsys):
    assert main(["--epochs"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == error_lines(err) and len(error_lines(err)) == 1
    assert "'--epochs'" in err and "--key=value" in err


def test_missing_dataset_folder_exits_2_and_says_where_it_looked(capsys, tmp_path):
    status = main(["--dataset=nope", f"--data_path={tmp_path}", f"--log_dir={tmp_path / 'log'}",
                   "--show_progress=False", "--no-save"])
    assert status == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    # The run's log (configuration, device) also goes to stderr before the data is looked for;
    # the error itself is one line, and the last one.
    lines = error_lines(err)
    assert len(lines) == 1 and err.splitlines()[-1] == lines[0]
    assert "'nope'" in lines[0] and str(tmp_path / "nope") in lines[0]


def test_unhashable_literal_on_command_line_is_a_user_error(capsys):
    assert main(["--topk={[1]: 2}"]) == 2
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and "topk" in err


def test_run_py_reports_bad_value_without_traceback(tmp_path):
    # dataset/data_path/log_dir point into tmp_path so that a broken check could not start a real run.
    result = subprocess.run(
        [sys.executable, "run.py", "--epochs=abc", "--dataset=nope", f"--data_path={tmp_path}",
         f"--log_dir={tmp_path / 'log'}"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines == error_lines(result.stderr) and len(lines) == 1, result.stderr
    assert "'epochs'" in lines[0] and "'abc'" in lines[0]


def test_malformed_training_flag_is_one_error_line(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--model"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.count("\n") == 1 and err.startswith("gru4recf: error:") and "--model" in err


def test_version_prints_the_package_version(capsys):
    from gru4recf import __version__

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"gru4recf {__version__}"


def test_models_lists_every_model_and_shows_one_model_s_keys(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split(":")[0] for line in lines]
    assert names == sorted(names) and {"GRU4Rec", "GRU4RecF", "SASRec", "Caser"} <= set(names)
    gru4recf = lines[names.index("GRU4RecF")]
    assert "needs item features" in gru4recf and "RecSys 2016" in gru4recf
    assert "needs user ids" in lines[names.index("Caser")]
    assert main(["models", "GRU4RecF"]) == 0
    out = capsys.readouterr().out
    assert "| `architecture` | `'parallel'` | parallel, weighted, concat, id, feature |" in out
    assert main(["models", "SASRecc"]) == 2
    assert error_lines(capsys.readouterr().err) == [f"gru4recf: error: unknown model 'SASRecc'; available: "
                                                    f"{', '.join(names)}"]


def test_datasets_lists_what_can_be_downloaded(capsys):
    assert main(["datasets"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ml-100k\thttps://files.grouplens.org/datasets/movielens/ml-100k.zip"]


def test_a_value_may_follow_its_key_on_the_command_line(capsys, tmp_path):
    # the same error as --learning_rate=-1: the value reached the config check
    assert main(["--learning_rate", "-1", f"--data_path={tmp_path}", f"--log_dir={tmp_path / 'log'}"]) == 2
    assert "config key 'learning_rate' has value -1" in capsys.readouterr().err


@pytest.mark.parametrize("user_policy", [None, "ACTIVE"])
def test_the_command_lines_make_idle_openmp_threads_sleep_unless_the_user_chose(user_policy):
    """OpenMP reads OMP_WAIT_POLICY when torch loads it: both command lines must set it before torch
    is imported (importing them loads no torch), and keep a policy the user set."""
    script = ("import os, sys\nfrom gru4recf.cli import main\nfrom gru4recf.search.cli import main as hyper\n"
              "before = 'torch' in sys.modules\nmain(['models'])\nfirst = os.environ['OMP_WAIT_POLICY']\n"
              "del os.environ['OMP_WAIT_POLICY']\nhyper(['--params_file=/nonexistent'])\n"
              "print(before, first, os.environ['OMP_WAIT_POLICY'])\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if user_policy:
        env["OMP_WAIT_POLICY"] = user_policy
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    expected = user_policy or "PASSIVE"
    assert done.stdout.split()[-3:] == ["False", expected, "PASSIVE"], done.stderr[-2000:]


@pytest.mark.parametrize("state", ["INFO", "WARNING"])
def test_the_console_shows_the_chosen_settings_and_the_results_once_then_a_closing_summary(tmp_path, capsys, state):
    """The whole configuration goes to the log file; the console names the keys that are not
    defaults, the results once (four decimals throughout), and where the run's files are, also
    when `state` asks for less."""
    data = write_pattern_dataset(tmp_path)
    args = ["--dataset=toy", f"--data_path={tmp_path}", f"--log_dir={tmp_path / 'log'}",
            f"--checkpoint_dir={tmp_path / 'saved'}", f"--results_dir={tmp_path / 'results'}", "--epochs=2",
            "--embedding_size=8", "--hidden_size=8", "--MAX_ITEM_LIST_LENGTH=5", "--show_progress=False",
            "--num_threads=1", f"--state={state}"]
    assert main(args) == 0 and data.is_dir()
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert "configuration:" not in captured.err and "model = 'GRU4RecF'" not in captured.err
    if state == "INFO":
        (chosen,) = [line for line in lines if line.startswith("GRU4RecF on toy; settings other than the defaults: ")]
        assert "epochs=2 (command line)" in chosen and "learning_rate" not in chosen
    (test_line,) = [line for line in lines if line.startswith("test result: ")]
    assert re.fullmatch(r"test result: (\S+@\d+ \d\.\d{4}  )*\S+@\d+ \d\.\d{4}", test_line), test_line
    (log,) = (tmp_path / "log" / "GRU4RecF").glob("*.log")
    run_id = log.stem
    assert lines[-1].startswith(f"run {run_id} done: best epoch ") and lines[-1].endswith(f"; log {log}")
    assert f"best model {tmp_path / 'saved' / run_id}.pth; results {tmp_path / 'results' / run_id}" in lines[-1]
    assert ("configuration:\nmodel = 'GRU4RecF'" in log.read_text()) == (state == "INFO")


def test_the_run_has_one_bar_counting_epochs_up_to_the_last_one_early_stopping_allows(tmp_path, capsys):
    """With patience 1 and every epoch validated, after epoch e the run can last at most until
    best epoch + 2 epochs; the bar's total says so, and ends equal to the epochs run."""
    write_pattern_dataset(tmp_path)
    args = ["--dataset=toy", f"--data_path={tmp_path}", f"--log_dir={tmp_path / 'log'}", "--no-save", "--epochs=30",
            "--stopping_step=1", "--learning_rate=0.05", "--embedding_size=8", "--hidden_size=8",
            "--MAX_ITEM_LIST_LENGTH=5", "--num_threads=1"]
    assert main(args) == 0
    err = capsys.readouterr().err
    frames = re.findall(r"epoch (\d+\.\d) of at most (\d+)", err.replace("\r", "\n"))
    assert len(re.findall(r"(?m)^GRU4RecF +\d+%", err.replace("\r", "\n"))) >= 2  # one bar, redrawn
    (finished,) = re.findall(r"best eval result in epoch (\d+)", err)
    run = len(re.findall(r"epoch \d+ training \[", err))
    assert run == int(finished) + 3 < 30  # RecBole's rule: stop when more than stopping_step validations gained nothing
    assert frames[-1] == (f"{run}.0", str(run))
    assert ("1.0", "3") in frames  # after epoch 0 (the best so far): epochs 1 and 2 at most


@pytest.mark.parametrize("args, message", [
    (["--learing_rate=1"], "unknown config key 'learing_rate' (from command line); did you mean 'learning_rate'?"),
    (["--model=SASRecc"], "config key 'model' has value 'SASRecc'; expected one of 'BERT4Rec',"),
])
def test_a_misspelt_key_or_model_is_reported_before_torch_is_imported(args, message):
    script = (f"import sys\nfrom gru4recf.cli import main\nrc = main({args!r})\n"
              "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded', rc)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.split() == ["torch", "not", "loaded", "2"], done.stderr
    assert done.stderr.startswith(f"gru4recf: error: {message}")
