"""Hyper-parameter search: the hyper.test format, the trial plan, robustness, resume, selection.

Most tests replace training with a fake `run_experiment` (instant, scores chosen by the test);
the rest train for real on the tiny generated dataset.
"""
import itertools
import json
import math
from collections import OrderedDict
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gru4recf import experiment, run_gru4recf
from gru4recf.experiment import load_config
from gru4recf.errors import ConfigError, TrainingError
from gru4recf.search import hyper_search, parse_params
from gru4recf.search.cli import main
from helpers import small_config, write_pattern_dataset

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "gru4recf: error:"


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def result(valid: float, test: float) -> dict:
    return {"best_valid_score": valid, "valid_score_bigger": True,
            "best_valid_result": OrderedDict([("mrr@10", valid)]), "test_result": OrderedDict([("mrr@10", test)])}


@pytest.fixture
def fake_training(monkeypatch):
    """Replaces data loading and training; `calls` records each trial's config; `score(config)`
    returns (valid, test) or raises."""
    state = {"calls": [], "loads": 0, "score": lambda config: (config.learning_rate, 0.0)}

    def load(config):
        state["loads"] += 1
        return "loaded data"

    def run(config, saved=True, data=None, on_validation=None):
        assert data == "loaded data" and saved is False
        state["calls"].append(config)
        return result(*state["score"](config))

    monkeypatch.setattr(experiment, "load_data", load)
    monkeypatch.setattr(experiment, "run_experiment", run)
    return state


def search(tmp_path, text, **kwargs):
    config = {"log_dir": str(tmp_path / "log"), "show_progress": False, "data_path": str(tmp_path)}
    config.update(kwargs.pop("config_dict", {}))
    kwargs.setdefault("output_file", str(tmp_path / "out.jsonl"))
    return hyper_search(write(tmp_path / "params.test", text), "GRU4RecF", "toy", config_dict=config, **kwargs)


def rows(path) -> list:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


# --- the hyper.test format ---------------------------------------------------------------------

def test_every_line_type_is_parsed():
    text = ("# searched parameters\n\n"
            "learning_rate choice [0.01, 0.005]   # trailing comment\n"
            "pooling_mode choice ['sum', 'mean#1']\n"
            "topk choice [[5, 10], (10,)]\n"
            "dropout_prob uniform 0.1, 0.5\n"
            "hidden_size quniform 16,64,16\n"
            "weight_decay loguniform -9.2,-4.6\n")
    params = parse_params(text, "h.test")
    assert [(p.name, p.kind, p.values, p.line) for p in params] == [
        ("learning_rate", "choice", (0.01, 0.005), 3), ("pooling_mode", "choice", ("sum", "mean#1"), 4),
        ("topk", "choice", ([5, 10], [10]), 5), ("dropout_prob", "uniform", (0.1, 0.5), 6),
        ("hidden_size", "quniform", (16, 64, 16), 7), ("weight_decay", "loguniform", (-9.2, -4.6), 8)]
    assert params[4].integral and not parse_params("dropout_prob quniform 0,0.5,0.1")[0].integral


@pytest.mark.parametrize("line, message", [
    ("learning_rate", "expected 'name type values'"),
    ("learning_rate choice", "expected 'name type values'"),
    ("learning_rate normal 0,1", "unknown type 'normal'"),
    ("learning_rate choice [0.01, 0.001", "cannot read"),
    ("pooling_mode choice [sum, mean]", "quote strings"),
    ("learning_rate choice __import__('os')", "cannot read"),
    ("learning_rate choice 0.01", "non-empty list"),
    ("learning_rate choice []", "non-empty list"),
    ("learning_rate choice [0.01, 0.01]", "listed twice"),
    ("learning_rate choice [{1, 2}]", "cannot be stored"),
    ("dropout_prob uniform 0.1", "low,high"),
    ("dropout_prob uniform 0.1,0.2,0.3", "low,high"),
    ("dropout_prob uniform 'a','b'", "finite numbers"),
    ("dropout_prob uniform 0.5,0.1", "low < high"),
    ("hidden_size quniform 16,64", "low,high,q"),
    ("hidden_size quniform 16,64,0", "q > 0"),
    ("weight_decay loguniform 1e999,2", "finite numbers"),
])
def test_bad_line_is_an_error_with_its_line_number(line, message):
    with pytest.raises(ConfigError) as error:
        parse_params(f"# header\n\nnum_layers choice [1, 2]\n{line}\n", "h.test")
    assert "h.test, line 4:" in str(error.value) and message in str(error.value)


def test_unknown_or_repeated_parameter_is_an_error_naming_it():
    with pytest.raises(ConfigError, match=r"line 2: unknown config key 'learing_rate'; did you mean 'learning_rate'"):
        parse_params("num_layers choice [1]\nlearing_rate choice [0.1]\n", "h.test")
    with pytest.raises(ConfigError, match=r"line 3: parameter 'num_layers' is already searched on line 1"):
        parse_params("num_layers choice [1]\n\nnum_layers choice [2]\n", "h.test")
    with pytest.raises(ConfigError, match="defines no parameter"):
        parse_params("# nothing\n", "h.test")


def test_shipped_hyper_test_holds_the_documented_grid():
    params = parse_params((ROOT / "hyper.test").read_text(), "hyper.test")
    assert {p.name: p.values for p in params} == {"learning_rate": (0.01, 0.005, 0.001, 0.0005, 0.0001),
                                                  "num_layers": (1, 2)}


# --- the plan of trials ------------------------------------------------------------------------

def test_exhaustive_runs_every_combination_exactly_once(tmp_path, fake_training):
    found = search(tmp_path, "learning_rate choice [0.1, 0.01, 0.001]\nnum_layers choice [1, 2]\n",
                   config_dict={"stopping_step": 0})
    combos = set(itertools.product([0.1, 0.01, 0.001], [1, 2]))
    ran = [(c.learning_rate, c.num_layers) for c in fake_training["calls"]]
    assert len(ran) == 6 and set(ran) == combos
    assert [(r["learning_rate"], r["num_layers"]) for r in rows(tmp_path / "out.jsonl")] == ran
    assert all(c.stopping_step == 0 for c in fake_training["calls"])  # the fixed settings are kept
    assert fake_training["loads"] == 1  # the data is loaded once for the whole search
    assert found.best_params == {"learning_rate": 0.1, "num_layers": 1}


def test_exhaustive_rejects_a_range_parameter(tmp_path, fake_training):
    with pytest.raises(ConfigError, match=r"line 2: exhaustive search needs every parameter to be a choice list.*"
                                          r"'dropout_prob' is uniform"):
        search(tmp_path, "num_layers choice [1, 2]\ndropout_prob uniform 0.1,0.5\n")
    assert fake_training["calls"] == []


def test_invalid_value_is_caught_before_any_training(tmp_path, fake_training):
    with pytest.raises(ConfigError, match=r"line 1: value -0.1 of 'learning_rate' is not a valid setting"):
        search(tmp_path, "learning_rate choice [0.1, -0.1]\n")
    with pytest.raises(ConfigError, match=r"line 1: value 0 of 'num_layers'"):
        search(tmp_path, "num_layers quniform 0,3,1\n", algo="random", max_evals=2)
    assert fake_training["calls"] == []


def test_integral_quniform_gives_integers(tmp_path, fake_training):
    fake_training["score"] = lambda config: (config.hidden_size / 100, 0.0)
    search(tmp_path, "hidden_size quniform 8,64,8\ndropout_prob quniform 0,0.5,0.1\n", algo="random",
           max_evals=12)
    hidden = [c.hidden_size for c in fake_training["calls"]]
    table = rows(tmp_path / "out.jsonl")
    assert len(table) == 12
    assert all(type(r["hidden_size"]) is int and r["hidden_size"] % 8 == 0 and 8 <= r["hidden_size"] <= 64
               for r in table)
    assert hidden == [r["hidden_size"] for r in table] and len(set(hidden)) > 1
    assert all(type(r["dropout_prob"]) is float and round(r["dropout_prob"] * 10, 9).is_integer() for r in table)


@pytest.mark.parametrize("algo", ["random", "bayes"])
def test_random_and_bayes_run_max_evals_trials(tmp_path, fake_training, algo):
    fake_training["score"] = lambda config: (-abs(math.log(config.learning_rate / 0.003)), 0.0)
    found = search(tmp_path, "learning_rate loguniform -9.2,-2.3\nnum_layers choice [1, 2]\n", algo=algo,
                   max_evals=25)
    assert len(rows(tmp_path / "out.jsonl")) == 25 == len(fake_training["calls"])
    assert all(math.exp(-9.2) <= c.learning_rate <= math.exp(-2.3) for c in fake_training["calls"])
    assert found.best_valid_score == max(r["valid_score"] for r in found.trials)


def test_early_stop_ends_after_trials_without_improvement(tmp_path, fake_training):
    scores = iter([0.2, 0.3, 0.1, 0.25, 0.9, 0.95])
    fake_training["score"] = lambda config: (next(scores), 0.0)
    search(tmp_path, "learning_rate choice [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]\n", early_stop=2)
    assert len(fake_training["calls"]) == 4  # trials 2 and 3 did not beat trial 1


# --- robustness --------------------------------------------------------------------------------

def test_failing_trial_is_recorded_and_the_search_continues(tmp_path, fake_training):
    def score(config):
        if config.learning_rate == 0.5:
            raise TrainingError("loss became nan at epoch 0, batch 3")
        if config.learning_rate == 0.4:
            raise RuntimeError("out of\nmemory")
        return (float("nan") if config.learning_rate == 0.3 else config.learning_rate, 1.0)

    fake_training["score"] = score
    found = search(tmp_path, "learning_rate choice [0.5, 0.1, 0.4, 0.3, 0.2]\n")
    table = {r["learning_rate"]: r for r in rows(tmp_path / "out.jsonl")}
    assert len(table) == 5 and len(fake_training["calls"]) == 5
    assert table[0.5]["status"] == "failed" and "TrainingError: loss became nan" in table[0.5]["error"]
    assert table[0.4]["error"] == "RuntimeError: out of memory" and table[0.4]["valid_score"] is None
    assert table[0.3]["status"] == "failed" and "validation score MRR@10 is nan" in table[0.3]["error"]
    assert Path(table[0.5]["log_file"]).read_text().count("Traceback") == 1
    assert found.best_params == {"learning_rate": 0.2}
    lines = found.table().splitlines()
    assert lines[2].split()[:3] == ["1", "4", "0.2"]
    assert [line.split()[:2] for line in lines[-3:]] == [["-", "0"], ["-", "2"], ["-", "3"]]  # failed rows last


def test_interrupted_search_resumes_skipping_finished_trials(tmp_path, fake_training):
    text = "learning_rate choice [0.1, 0.2, 0.3]\nnum_layers choice [1, 2]\n"

    def interrupt_third(config):
        if len(fake_training["calls"]) == 3:
            raise KeyboardInterrupt
        return config.learning_rate * config.num_layers, 0.0

    fake_training["score"] = interrupt_third
    with pytest.raises(KeyboardInterrupt):
        search(tmp_path, text)
    first = rows(tmp_path / "out.jsonl")
    assert [r["trial"] for r in first] == [0, 1]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    fake_training["calls"].clear()
    fake_training["score"] = lambda config: (config.learning_rate * config.num_layers, 0.0)
    found = search(tmp_path, text)
    assert [(c.learning_rate, c.num_layers) for c in fake_training["calls"]] == [(0.2, 1), (0.2, 2), (0.3, 1), (0.3, 2)]
    final = rows(tmp_path / "out.jsonl")
    assert [r["trial"] for r in final] == list(range(6)) and final[:2] == first
    assert found.best_params == {"learning_rate": 0.3, "num_layers": 2}

    fake_training["calls"].clear()  # a finished search resumes to nothing
    assert search(tmp_path, text).best_trial == 5 and fake_training["calls"] == []


def test_resumed_bayes_search_draws_what_an_uninterrupted_one_draws(tmp_path, fake_training):
    text = "learning_rate loguniform -9.2,-2.3\nnum_layers choice [1, 2]\n"
    fake_training["score"] = lambda config: (-abs(math.log(config.learning_rate / 0.003)) - config.num_layers, 0.0)
    whole = search(tmp_path, text, algo="bayes", max_evals=24, output_file=str(tmp_path / "whole.jsonl"))
    search(tmp_path, text, algo="bayes", max_evals=21, output_file=str(tmp_path / "part.jsonl"))
    resumed = search(tmp_path, text, algo="bayes", max_evals=24, output_file=str(tmp_path / "part.jsonl"))
    params = lambda found: [(r["learning_rate"], r["num_layers"]) for r in found.trials]
    assert params(resumed) == params(whole) and len(set(params(whole))) == 24


def test_results_of_another_search_are_not_mixed_in(tmp_path, fake_training):
    search(tmp_path, "learning_rate choice [0.1, 0.2]\n")
    with pytest.raises(ConfigError, match="holds trials of a different search"):
        search(tmp_path, "learning_rate choice [0.1, 0.3]\n")
    with pytest.raises(ConfigError, match="holds trials of a different search"):
        search(tmp_path, "learning_rate choice [0.1, 0.2]\n", config_dict={"hidden_size": 32})
    (tmp_path / "out.jsonl").write_text("not json\n")
    with pytest.raises(ConfigError, match=r"out.jsonl, line 1: not a trial row"):
        search(tmp_path, "learning_rate choice [0.1, 0.2]\n")


# --- selection and outputs ---------------------------------------------------------------------

def test_best_is_chosen_on_validation_not_test(tmp_path, fake_training):
    fake_training["score"] = lambda config: (config.learning_rate, 1 - config.learning_rate)
    found = search(tmp_path, "learning_rate choice [0.1, 0.3, 0.2]\n")
    assert found.best_params == {"learning_rate": 0.3} and found.best_trial == 1
    assert found.best_test_result == {"mrr@10": pytest.approx(0.7)}
    best = yaml.safe_load(Path(found.best_config_file).read_text())
    assert best["learning_rate"] == 0.3 and found.best_config_file == str(tmp_path / "out.best.yaml")
    frame = pd.read_json(tmp_path / "out.jsonl", lines=True)
    assert list(frame["valid_mrr@10"]) == pytest.approx([0.1, 0.3, 0.2]) and set(frame["status"]) == {"ok"}


def test_dataset_is_loaded_once_unless_a_parameter_changes_it(tmp_path, monkeypatch):
    write_pattern_dataset(tmp_path)
    loads = []
    real = experiment.load_data
    monkeypatch.setattr(experiment, "load_data", lambda config: loads.append(config) or real(config))
    config = small_config(tmp_path, epochs=1)
    config.pop("learning_rate")
    hyper_search(write(tmp_path / "a.test", "learning_rate choice [0.01, 0.001]\nnum_layers choice [1, 2]\n"),
                 "GRU4RecF", "toy", config_dict=config, output_file=str(tmp_path / "a.jsonl"))
    assert len(loads) == 1
    loads.clear()
    hyper_search(write(tmp_path / "b.test", "user_inter_num_interval choice ['[1,inf)', '[5,inf)']\n"
                                            "MAX_ITEM_LIST_LENGTH choice [3, 5]\n"),
                 "GRU4RecF", "toy", config_dict={k: v for k, v in config.items() if k != "MAX_ITEM_LIST_LENGTH"},
                 output_file=str(tmp_path / "b.jsonl"))
    assert [c.user_inter_num_interval for c in loads] == ["[1,inf)", "[5,inf)"]  # not MAX_ITEM_LIST_LENGTH


def test_best_config_reproduces_the_best_trial(tmp_path):
    write_pattern_dataset(tmp_path)
    fixed = small_config(tmp_path, epochs=2, log_dir=str(tmp_path / "log"))
    for key in ("learning_rate", "num_threads"):
        fixed.pop(key)
    config_file = write(tmp_path / "fixed.yaml", yaml.safe_dump(fixed))
    found = hyper_search(write(tmp_path / "h.test", "learning_rate choice [0.01, 0.002]\nnum_layers choice [1, 2]\n"),
                         config_file_list=[config_file], cli_args={"dataset": "toy", "num_threads": 1},
                         output_file=str(tmp_path / "out.jsonl"))
    assert [r["status"] for r in found.trials] == ["ok"] * 4
    best = load_config(config_file_list=[found.best_config_file])
    assert best.dataset == "toy" and best.epochs == 2 and best.num_threads == 1
    assert best.learning_rate == found.best_params["learning_rate"]
    again = run_gru4recf(config_file_list=[found.best_config_file], saved=False)
    assert again["best_valid_score"] == found.best_valid_score
    assert dict(again["test_result"]) == found.best_test_result


def test_parallel_workers_give_the_same_trials_as_one_process(tmp_path):
    write_pattern_dataset(tmp_path)
    config = small_config(tmp_path, epochs=1)
    config.pop("learning_rate")
    params = write(tmp_path / "h.test", "learning_rate choice [0.01, 0.002]\nnum_layers choice [1, 2]\n")
    one = hyper_search(params, "GRU4RecF", "toy", config_dict=config, output_file=str(tmp_path / "one.jsonl"))
    two = hyper_search(params, "GRU4RecF", "toy", config_dict=config, output_file=str(tmp_path / "two.jsonl"),
                       workers=2)
    strip = lambda found: [{k: v for k, v in r.items() if k not in ("seconds", "log_file")} for r in found.trials]
    assert strip(two) == strip(one) and len(one.trials) == 4


def test_by_default_a_search_is_one_folder_with_its_trials_logs(tmp_path, monkeypatch):
    write_pattern_dataset(tmp_path / "data")
    monkeypatch.chdir(tmp_path)  # the defaults are relative: nothing may land outside results/
    config = {k: v for k, v in small_config(tmp_path / "data", epochs=1).items()
              if k not in ("log_dir", "checkpoint_dir", "results_dir", "learning_rate")}
    found = hyper_search(write(tmp_path / "data" / "h.test", "learning_rate choice [0.01, 0.002]\n"), "GRU4RecF", "toy",
                         config_dict=config)
    folder = Path("results") / "hyper-GRU4RecF-toy"
    assert found.output_file == str(folder / "trials.jsonl") and found.best_config_file == str(folder / "trials.best.yaml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "results"]
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["hyper-GRU4RecF-toy"]
    logs = sorted((tmp_path / folder / "trials_logs").iterdir())
    assert sorted(str(Path(r["log_file"]).resolve()) for r in found.trials) == [str(p) for p in logs]
    assert len(logs) == 2 and all("hyper-parameter search trial" in p.read_text() for p in logs)


# --- command line ------------------------------------------------------------------------------

def run_cli(capsys, *args):
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_runs_a_search_and_prints_the_table(tmp_path, capsys, fake_training):
    params = write(tmp_path / "h.test", "learning_rate choice [0.1, 0.2]\n")
    status, out, err = run_cli(capsys, "--dataset=toy", f"--params_file={params}", f"--log_dir={tmp_path}",
                               f"--output_file={tmp_path / 'o.jsonl'}", "--show_progress=False")
    assert status == 0 and err == ""
    assert out.splitlines()[0].split() == ["rank", "trial", "learning_rate", "valid", "mrr@10", "test", "mrr@10",
                                           "seconds", "status"]
    assert out.splitlines()[2].split()[:3] == ["1", "1", "0.2"]
    assert f"best config: {tmp_path / 'o.best.yaml'}" in out


@pytest.mark.parametrize("args, message", [
    (["--params_file=missing.test"], "cannot read params file missing.test"),
    (["--algo=grid"], "unknown search algorithm 'grid'; expected one of exhaustive, random, bayes"),
    (["--max_evals=ten"], "argument --max_evals: invalid int value: 'ten'"),
    (["--workers=0"], "workers must be a positive integer, found 0"),
    (["--max_eval=5"], "unknown option '--max_eval'; did you mean '--max_evals'?"),
    (["--learing_rate=0.1"], "unknown config key 'learing_rate' (from command line); did you mean 'learning_rate'?"),
    (["--learning_rate=0.1"], "'learning_rate' is searched (PARAMS, line 1) and also fixed on the command line"),
])
def test_cli_user_errors_exit_2_with_one_line(tmp_path, capsys, fake_training, args, message):
    params = write(tmp_path / "h.test", "learning_rate choice [0.1, 0.2]\n")
    args = [a.replace("missing.test", str(tmp_path / "missing.test")) for a in args]
    if not any(a.startswith("--params_file") for a in args):
        args.append(f"--params_file={params}")
    status, out, err = run_cli(capsys, "--dataset=toy", f"--output_file={tmp_path / 'o.jsonl'}", *args)
    assert status == 2 and out == "" and "Traceback" not in err
    assert err.splitlines() == [err.strip()] and err.startswith(PREFIX)
    assert message.replace("PARAMS", params).replace("missing.test", str(tmp_path / "missing.test")) in err
    assert fake_training["calls"] == []


def test_cli_reports_a_search_where_every_trial_failed(tmp_path, capsys, fake_training):
    fake_training["score"] = lambda config: 1 / 0
    params = write(tmp_path / "h.test", "learning_rate choice [0.1, 0.2]\n")
    status, out, err = run_cli(capsys, "--dataset=toy", f"--params_file={params}", f"--log_dir={tmp_path}",
                               f"--output_file={tmp_path / 'o.jsonl'}", "--show_progress=False")
    assert status == 1 and "ZeroDivisionError: division by zero" in out
    assert err.strip() == f"{PREFIX} all 2 trials failed; the errors are in {tmp_path / 'o.jsonl'}"
    assert not (tmp_path / "o.best.yaml").exists()


def test_searching_a_key_the_model_does_not_have_is_an_error_naming_the_line(tmp_path):
    params = write(tmp_path / "p.test", "learning_rate choice [0.01]\npooling_mode choice ['sum', 'max']\n")
    with pytest.raises(ConfigError, match=r"line 2: 'pooling_mode' is not a setting of model 'GRU4Rec'"):
        hyper_search(params, "GRU4Rec", "toy", config_dict={"data_path": str(tmp_path)},
                     output_file=str(tmp_path / "out.jsonl"))


def test_ray_flag_without_tool_ray_is_an_error(tmp_path, capsys, fake_training):
    params = write(tmp_path / "h.test", "learning_rate choice [0.1, 0.2]\n")
    status, out, err = run_cli(capsys, "--dataset=toy", f"--params_file={params}", "--scheduler=asha",
                               f"--output_file={tmp_path / 'o.jsonl'}")
    assert status == 2 and err.strip() == f"{PREFIX} --scheduler is a Ray Tune option: add --tool=ray"
    with pytest.raises(ConfigError, match="unknown search tool 'dask'; expected one of hyperopt, ray"):
        search(tmp_path, "learning_rate choice [0.1, 0.2]\n", tool="dask")
    assert fake_training["calls"] == []


BLOCK_RAY = """
import sys
class NoRay:
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoRay())
for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
    del sys.modules[name]
from gru4recf.search.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_tool_ray_without_ray_installed_names_the_extra(tmp_path):
    import subprocess
    import sys

    params = write(tmp_path / "h.test", "learning_rate choice [0.1, 0.2]\n")
    done = subprocess.run([sys.executable, "-c", BLOCK_RAY, "--tool=ray", "--dataset=toy", f"--params_file={params}",
                           f"--data_path={tmp_path}", f"--output_file={tmp_path / 'o.jsonl'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [f"{PREFIX} --tool=ray needs Ray Tune, which is not installed: "
                                        "pip install 'gru4recf[ray]'"]
    assert not (tmp_path / "o.jsonl").exists()
