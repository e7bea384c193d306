"""Command line: a user error ends the run with exit status 2 and one 'gru4recf: error:' line on
stderr that says what is wrong, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gru4recf.cli import main

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
