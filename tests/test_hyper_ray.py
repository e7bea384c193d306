"""The search on Ray Tune (`--tool=ray`) against a real local Ray runtime with 2 CPUs, shared by
this module's tests: the grid runs exactly once and computes what hyperopt's loop computes, ASHA
stops a trial made to be bad and records it, the Ray flags are checked before any trial."""
import itertools
import json
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from gru4recf.search import hyper_search  # noqa: E402
from gru4recf.search.cli import main  # noqa: E402
from gru4recf.search.ray_tune import RaySettings  # noqa: E402
from helpers import small_config, write_pattern_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "gru4recf: error:"


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray runtime for the module (a search joins a running one instead of starting its own)."""
    ray.init(num_cpus=2, object_store_memory=80 * 1024 * 1024, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture
def data(tmp_path):
    write_pattern_dataset(tmp_path)
    config = small_config(tmp_path, epochs=1)
    config.pop("learning_rate")
    return tmp_path, config


def rows(path) -> list:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_grid_runs_every_trial_exactly_once_as_hyperopt_does(local_ray, data):
    tmp_path, config = data
    params = str(ROOT / "hyper.test")  # 5 learning rates x 2 layers
    on_ray = hyper_search(params, "GRU4RecF", "toy", config_dict=config, output_file=str(tmp_path / "ray.jsonl"),
                          tool="ray", ray=RaySettings(cpus_per_trial=1))
    here = hyper_search(params, "GRU4RecF", "toy", config_dict=config, output_file=str(tmp_path / "here.jsonl"))
    table = rows(tmp_path / "ray.jsonl")
    grid = list(itertools.product([0.01, 0.005, 0.001, 0.0005, 0.0001], [1, 2]))
    assert [r["trial"] for r in table] == list(range(10))
    assert [(r["learning_rate"], r["num_layers"]) for r in table] == grid  # each once, in grid order
    strip = lambda found: [{k: v for k, v in r.items() if k not in ("seconds", "log_file", "node")}
                           for r in found.trials]
    assert strip(on_ray) == strip(here)  # the same trials, scores and best config as hyperopt's loop
    assert on_ray.best_params == here.best_params
    assert {r["node"] for r in table} == {ray.get_runtime_context().get_node_id()}
    logs = [Path(r["log_file"]).read_text() for r in table]
    assert all("torch threads: 1" in log for log in logs)  # threads follow --cpus_per_trial
    loads = [log for log in logs if "reusing the dataset loaded by an earlier trial" not in log]
    assert 1 <= len(loads) <= 2  # the data is loaded once per Ray worker process (2 CPUs: at most 2)


def test_asha_stops_a_bad_trial_early_and_records_it(local_ray, data, capsys):
    tmp_path, config = data
    config["epochs"] = 3
    params = tmp_path / "bad.test"
    params.write_text("learning_rate choice [0.01, 0.005, 1e-7, 2e-7]\n")
    found = hyper_search(str(params), "GRU4RecF", "toy", config_dict=config, output_file=str(tmp_path / "asha.jsonl"),
                         tool="ray", ray=RaySettings(scheduler="asha", grace_period=1, reduction_factor=2))
    table = {r["learning_rate"]: r for r in rows(tmp_path / "asha.jsonl")}
    assert len(table) == 4 and table[0.01]["status"] == "ok" and "test_mrr@10" in table[0.01]
    for lr in (1e-7, 2e-7):  # started after both good trials passed epoch 1: below their median there
        bad = table[lr]
        assert bad["status"] == "stopped" and bad["epochs_trained"] == 1 and bad["error"] is None
        assert bad["valid_score"] == bad["valid_mrr@10"] < table[0.01]["valid_mrr@10"]
        assert not any(k.startswith("test_") for k in bad)  # never tested: not a finished training
    assert found.best_params == {"learning_rate": 0.01}
    assert [line.split()[-1] for line in found.table().splitlines()[2:]][-2:] == ["stopped", "stopped"]
    # a stopped trial is finished: the same search resumes to nothing
    again = hyper_search(str(params), "GRU4RecF", "toy", config_dict=config, output_file=str(tmp_path / "asha.jsonl"),
                         tool="ray", ray=RaySettings(scheduler="asha", grace_period=1, reduction_factor=2))
    assert again.trials == found.trials


def run_cli(capsys, *args):
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("args, message", [
    (["--workers=2"], "--workers=2 is for --tool=hyperopt; on Ray, trials run in parallel as the cluster's CPUs "
                      "allow: set --cpus_per_trial"),
    (["--cpus_per_trial=0"], "cpus_per_trial must be a positive integer, found 0"),
    (["--gpus_per_trial=-1"], "gpus_per_trial must be a number >= 0 (e.g. 1 or 0.5), found -1.0"),
    (["--scheduler=pbt"], "unknown scheduler 'pbt'; expected one of none, asha"),
    (["--scheduler=asha", "--reduction_factor=1"], "reduction_factor must be an integer >= 2, found 1"),
    (["--scheduler=asha", "--grace_period=2"], "grace_period 2 is not below epochs 2: ASHA could never stop a "
                                               "trial early; lower --grace_period or raise --epochs"),
    (["--cpus_per_trial=3"], "the Ray cluster has 2 CPUs and 0 GPUs: not enough for one trial with "
                             "--cpus_per_trial=3 --gpus_per_trial=0"),
])
def test_ray_flag_errors_exit_2_with_one_line(local_ray, data, capsys, args, message):
    tmp_path, _ = data
    params = tmp_path / "h.test"
    params.write_text("learning_rate choice [0.1, 0.2]\n")
    status, out, err = run_cli(capsys, "--tool=ray", "--dataset=toy", f"--data_path={tmp_path}", "--epochs=2",
                               f"--params_file={params}", f"--output_file={tmp_path / 'o.jsonl'}",
                               f"--log_dir={tmp_path / 'log'}", *args)
    assert status == 2 and out == "" and "Traceback" not in err
    assert err.splitlines() == [f"{PREFIX} {message}"]
    assert not (tmp_path / "o.jsonl").exists()


def test_random_draws_as_hyperopt_and_bayes_resumes_with_its_history(local_ray, data):
    tmp_path, config = data
    params = tmp_path / "r.test"
    params.write_text("learning_rate loguniform -9.2,-2.3\nnum_layers choice [1, 2]\n")
    drawn = lambda found: [(r["learning_rate"], r["num_layers"]) for r in found.trials]
    search = lambda name, **kwargs: hyper_search(str(params), "GRU4RecF", "toy", config_dict=config,
                                                 output_file=str(tmp_path / name), **kwargs)
    on_ray = search("random_ray.jsonl", algo="random", max_evals=2, tool="ray")
    here = search("random_here.jsonl", algo="random", max_evals=2)
    assert drawn(on_ray) == drawn(here) and len(set(drawn(here))) == 2
    part = search("bayes.jsonl", algo="bayes", max_evals=3, tool="ray")
    whole = search("bayes.jsonl", algo="bayes", max_evals=5, tool="ray")
    assert whole.trials[:3] == part.trials and [r["trial"] for r in whole.trials] == list(range(5))
    assert {r["status"] for r in whole.trials} == {"ok"} and len(set(drawn(whole))) == 5
