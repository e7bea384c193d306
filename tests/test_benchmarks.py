"""The benchmark tools: the synthetic generator's promises, and the scripts running end to end."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gru4recf.data.dataset import load_dataset
from gru4recf.data.settings import DataSettings
from gru4recf.models.registry import model_spec
from gru4recf.training.results import read_epochs
from helpers import write_pattern_dataset

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import make_synthetic  # noqa: E402
import report  # noqa: E402
import recbole_zoo  # noqa: E402
import zoo  # noqa: E402
from bench_common import read_run  # noqa: E402

TINY = {"interactions": 3000, "users": 100, "items": 200}
SMALL_MODEL = ["--num_threads=1", "--embedding_size=8", "--hidden_size=8", "--train_batch_size=256",
               "--eval_batch_size=64"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    make_synthetic.generate(out, "tiny", seed=1, **TINY)
    return out


def read_inter(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "tiny" / "tiny.inter", sep="\t", dtype={"user_id:token": str, "item_id:token": str})


def test_generated_files_load_with_the_requested_counts(tiny):
    dataset = load_dataset(DataSettings("tiny", str(tiny), selected_features=["class"]))
    assert dataset.n_users - 1 == TINY["users"]  # id 0 is padding
    assert dataset.n_items - 1 == TINY["items"]
    assert dataset.n_interactions == TINY["interactions"]
    assert np.diff(dataset.user_offsets)[1:].min() >= make_synthetic.MIN_LENGTH  # user 0: padding


def test_every_item_has_one_to_four_distinct_genres_of_twenty(tiny):
    dataset = load_dataset(DataSettings("tiny", str(tiny), selected_features=["class"]))
    (feature,) = dataset.item_features
    rows = [feature.tokens_of(item) for item in range(1, feature.n_items)]
    per_item = np.array([len(row) for row in rows])
    assert per_item.min() == 1 and per_item.max() <= 4
    assert all(len(set(row)) == len(row) for row in rows)
    assert len(feature.vocab) - 1 <= len(make_synthetic.GENRES)


def test_item_popularity_is_skewed_like_zipf(tiny):
    counts = read_inter(tiny)["item_id:token"].value_counts()
    assert len(counts) == TINY["items"]  # every item occurs
    assert counts.iloc[0] > 10 * counts.median()


def test_timestamps_increase_within_each_user_and_rows_are_in_time_order(tiny):
    frame = read_inter(tiny)
    times = frame["timestamp:float"].to_numpy()
    assert np.all(np.diff(times) >= 0)
    assert frame.groupby("user_id:token")["timestamp:float"].apply(lambda t: np.all(np.diff(t.to_numpy()) > 0)).all()
    lengths = frame["user_id:token"].value_counts()
    assert lengths.min() >= make_synthetic.MIN_LENGTH and lengths.sum() == TINY["interactions"]


def test_the_same_seed_writes_the_same_files(tmp_path):
    for name in ("a", "b"):
        make_synthetic.generate(tmp_path / name, "d", 400, 20, 30, seed=7)
    for suffix in ("inter", "item"):
        assert (tmp_path / "a" / "d" / f"d.{suffix}").read_bytes() == (tmp_path / "b" / "d" / f"d.{suffix}").read_bytes()


def test_rows_are_formatted_without_leading_zeros():
    text = make_synthetic.format_rows([np.array([0, 7, 120]), np.array([1500000000, 5, 10])])
    assert text == b"0\t1500000000\n7\t5\n120\t10\n"


def test_presets_and_an_impossible_request(capsys):
    args = make_synthetic.parse_args(["--preset=10m"])
    assert (args.interactions, args.users, args.items, args.name) == (10_000_000, 500_000, 200_000, "synth-10m")
    assert make_synthetic.main(["--interactions=40", "--users=10", "--items=5", "--out=/nonexistent"]) == 2
    assert "interactions >= 5 * users" in capsys.readouterr().err


def run_script(*args: str) -> subprocess.CompletedProcess:
    """A benchmark script run with this checkout's gru4recf (not whichever one is installed)."""
    env = dict(os.environ, PYTHONPATH=str(BENCHMARKS.parent), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, env=env)


def test_bench_scale_runs_end_to_end_and_prints_its_table(tiny, tmp_path):
    out = tmp_path / "scale.json"
    done = run_script(str(BENCHMARKS / "bench_scale.py"), f"--data_path={tiny}", "--dataset=tiny", "--eval_users=10",
                      "--max_batches=2", f"--json_out={out}", *SMALL_MODEL)
    assert done.returncode == 0, done.stderr
    for row in ("data preparation s", "training epoch s", "full-ranking evaluation", "peak RSS MiB", "load_and_split",
                "train_epoch", "evaluate"):
        assert row in done.stdout
    figures = json.loads(out.read_text())
    assert figures["train_mode"] == "sequence" and figures["sampled_softmax"]["num_samples"] == 1024
    assert figures["learner"] == "sparse_adam" and figures["segment_length"] == 50
    assert figures["eval_users"] == 10 and figures["epoch_batches_measured"] == 2
    assert figures["epoch_extrapolated"] == (figures["batches_per_epoch"] > 2)
    assert figures["peak_rss_mib"] >= figures["peak_rss_after_prep_mib"] > 0


def test_bench_scale_names_a_bad_config_key(tiny):
    done = run_script(str(BENCHMARKS / "bench_scale.py"), f"--data_path={tiny}", "--dataset=tiny", "--learing_rate=1")
    assert done.returncode == 2 and "did you mean 'learning_rate'" in done.stderr


def test_bench_baselines_fits_each_model_in_its_own_child_and_prints_its_table(tiny, tmp_path):
    out = tmp_path / "baselines.json"
    done = run_script(str(BENCHMARKS / "bench_baselines.py"), f"--data_path={tiny}", "--dataset=tiny",
                      "--models=ItemKNN,SR", "--eval_users=10", "--num_threads=1", f"--json_out={out}")
    assert done.returncode == 0, done.stderr
    assert "fit s" in done.stdout and "peak RSS MiB" in done.stdout
    runs = json.loads(out.read_text())["runs"]
    assert [run["model"] for run in runs] == ["ItemKNN", "SR"]
    for run in runs:
        assert run["returncode"] == 0 and run["eval_users"] == 10 and run["fit_seconds"] > 0
        assert run["peak_rss_mib"] >= run["fit_rss_max_mib"] * 0.9 > 0  # the child's own peak


def test_bench_baselines_names_a_bad_config_key_of_a_model(tiny, tmp_path):
    done = run_script(str(BENCHMARKS / "bench_baselines.py"), f"--data_path={tiny}", "--dataset=tiny",
                      "--models=SKNN", "--sample_sise=5")
    assert done.returncode == 2 and "'sample_sise'" in done.stderr and "did you mean 'sample_size'" in done.stderr


def test_report_runs_a_synthetic_measurement_and_fills_cells_from_a_log(tmp_path):
    make_synthetic.generate(tmp_path, "synth-1m", seed=0, **TINY)  # a tiny stand-in under the preset's name
    log = tmp_path / "run.log"
    log.write_text("x INFO  configuration:\nmodel = 'GRU4RecF'\ndataset = 'ml-100k'\ntrain_mode = 'sequence'\n"
                   "x INFO  epoch 0 training [time: 4.00s, train loss: 1.0]\n"
                   "x INFO  epoch 0 evaluating [time: 0.50s, valid_score: 0.1]\n"
                   "x INFO  epoch 1 training [time: 6.00s, train loss: 1.0]\n"
                   "x INFO  epoch 1 evaluating [time: 0.50s, valid_score: 0.1]\n"
                   "x INFO  test result: recall@10 0.2500  mrr@10 0.1250  ndcg@10 0.1500\n")
    out = tmp_path / "report.json"
    done = run_script(str(BENCHMARKS / "report.py"), "--only=synth-1m", f"--synth_path={tmp_path}", "--eval_users=10",
                      f"--from_log={log}", f"--json_out={out}", *SMALL_MODEL)
    assert done.returncode == 0, done.stderr
    saved = json.loads(out.read_text())
    assert saved["measurements"]["synth-1m"]["interactions"] == TINY["interactions"]
    row = next(line for line in done.stdout.splitlines() if line.startswith("ml100k-sequence"))
    assert row.split() == ["ml100k-sequence", "-", "5.0", "-", "11", "(2", "ep)", "0.50", "-", "0.2500", "0.1250", "0.1500"]
    assert saved["table"] in done.stdout


def test_bench_ml100k_trains_to_early_stopping_and_reports_test_metrics(tiny, tmp_path):
    out = tmp_path / "ml.json"
    done = run_script(str(BENCHMARKS / "bench_ml100k.py"), f"--data_path={tiny}", "--dataset=tiny", "--to_stopping",
                      "--stopping_step=0", "--train_mode=sequence", f"--json_out={out}", *SMALL_MODEL)
    assert done.returncode == 0, done.stderr
    assert "seconds to early stopping" in done.stdout and "recall@10=" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["stopping_epochs"] == len(figures["epoch_seconds"]) >= 1
    assert set(report.METRICS) <= set(figures["test_result"])


def test_profile_steps_times_every_phase_of_a_batch(tiny):
    done = run_script(str(BENCHMARKS / "profile_steps.py"), f"--data_path={tiny}", "--dataset=tiny", "--batches=2",
                      *SMALL_MODEL)
    assert done.returncode == 0, done.stderr
    for phase in ("build batch", "zero_grad", "forward+backward", "optimizer step"):
        assert phase in done.stdout


def test_full_softmax_times_both_output_layers():
    done = run_script(str(BENCHMARKS / "full_softmax.py"), "--rows=64", "--items=50", "--dim=8", "--repeats=2",
                      "--num_threads=1")
    assert done.returncode == 0, done.stderr
    timed = [line.split() for line in done.stdout.splitlines() if line.endswith("ms per step")]
    assert [row[0] for row in timed] == ["F.cross_entropy", "full_cross_entropy"]
    assert all(float(row[1]) > 0 for row in timed)


def test_bench_architectures_trains_every_design_and_prints_one_table(tiny, tmp_path):
    out = tmp_path / "arch.json"
    result = run_script(str(BENCHMARKS / "bench_architectures.py"), f"--data_path={tiny}", "--dataset=tiny",
                        "--features=class", "--seeds=1,2", "--only=id,concat,parallel-residual,weighted-interleaving",
                        "--epochs=2", f"--json_out={out}", *SMALL_MODEL)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["design", "Recall@10", "MRR@10", "NDCG@10"]
    assert [line.split()[0] for line in lines[2:]] == ["id", "concat", "parallel-residual", "weighted-interleaving"]
    figures = json.loads(out.read_text())["results"]
    assert [run["seed"] for run in figures["id"]["runs"]] == [1, 2]
    assert figures["id"]["runs"][0]["ndcg@10"] != figures["concat"]["runs"][0]["ndcg@10"]


def test_bench_ddp_times_an_epoch_with_two_processes(tiny, tmp_path):
    out = tmp_path / "ddp.json"
    done = run_script(str(BENCHMARKS / "bench_ddp.py"), "--procs=2", f"--data_path={tiny}", "--dataset=tiny",
                      "--max_batches=2", "--evaluate", f"--json_out={out}", *SMALL_MODEL)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "processes" in done.stdout and "s/epoch" in done.stdout
    (run,) = json.loads(out.read_text())["runs"]
    assert run["processes"] == 2 and len(run["per_process"]) == 2 and run["batches_measured"] == 2
    assert all(p["epoch_seconds"] > 0 and p["prep_seconds"] > 0 and p["eval_seconds"] > 0 for p in run["per_process"])
    assert 0 <= run["eval_result"]["recall@10"] <= 1


ZOO_RUN = ["--dataset=toy", "--seeds=1", "--epochs=2", "--MAX_ITEM_LIST_LENGTH=5", *SMALL_MODEL[1:]]


def test_zoo_trains_each_model_in_its_fastest_mode():
    assert zoo.fastest_mode(model_spec("GRU4Rec")) == "sequence"
    assert zoo.fastest_mode(model_spec("BERT4Rec")) == "sequence"
    assert zoo.fastest_mode(model_spec("STAMP")) == "augment"  # has 'sequence', measured slower
    assert zoo.fastest_mode(model_spec("GRU4Rec"), forced="augment") == "augment"
    with pytest.raises(TypeError, match="fastest_mode 'session_parallel' is not one of its train_modes"):
        dataclasses.replace(model_spec("STAMP"), fastest_mode="session_parallel")


def zoo_run(model: str, seed: int, ndcg, best_epoch=2, epoch_seconds=1.0, wall=10.0, rss=300.0, returncode=0) -> dict:
    return {"model": model, "mode": "sequence", "seed": seed, "returncode": returncode, "best_epoch": best_epoch,
            "epoch_seconds_median": epoch_seconds, "wall_seconds": wall, "peak_rss_mib": rss,
            "test_ndcg@10": ndcg, "test_mrr@10": ndcg, "test_recall@10": ndcg}


def test_zoo_summary_is_mean_and_sample_std_over_the_finished_seeds():
    runs = [zoo_run("A", 1, 0.1, best_epoch=1, epoch_seconds=1.0, wall=10, rss=300),
            zoo_run("A", 2, 0.2, best_epoch=2, epoch_seconds=3.0, wall=30, rss=500),
            zoo_run("A", 3, 0.3, best_epoch=6, epoch_seconds=2.0, wall=20, rss=400),
            zoo_run("A", 4, None, best_epoch=None, epoch_seconds=9.0, wall=900, rss=700, returncode="timeout"),
            zoo_run("B", 1, 0.05)]
    a, b = zoo.summaries(runs)
    assert a["seeds"] == [1, 2, 3] and a["failed"] == [{"seed": 4, "returncode": "timeout", "wall_seconds": 900}]
    assert a["test_ndcg@10_mean"] == pytest.approx(0.2) and a["test_ndcg@10_std"] == pytest.approx(0.1)
    assert a["best_epoch_mean"] == 3
    assert a["epoch_seconds_median"] == 2.5  # of 1, 2, 3 and the killed run's 9: its epochs were measured
    assert a["wall_seconds_median"] == 20 and a["peak_rss_mib_max"] == 700
    assert b["test_ndcg@10_mean"] == 0.05 and b["test_ndcg@10_std"] is None  # one seed: no spread
    assert zoo.cells(a)[2:4] == ["3 (4: killed)", "0.2000 ± 0.1000"] and zoo.cells(b)[3] == "0.0500"
    (killed,) = zoo.summaries([runs[3]])
    assert zoo.cells(killed)[2:] == ["0 (4: killed)", "-", "-", "-", "-", "9.00", ">900", "700"]


def test_zoo_runs_models_to_their_results_folders_and_tables_them(tmp_path):
    data = write_pattern_dataset(tmp_path / "data")
    out = tmp_path / "zoo.json"
    done = run_script(str(BENCHMARKS / "zoo.py"), f"--data_path={data}", "--models=GRU4Rec,STAMP",
                      f"--json_out={out}", *ZOO_RUN)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = json.loads(out.read_text())
    assert [(run["model"], run["mode"], run["seed"]) for run in saved["runs"]] == [("GRU4Rec", "sequence", 1),
                                                                                 ("STAMP", "augment", 1)]
    assert saved["environment"]["torch_threads"] == 1  # the runs' threads (--num_threads), not this process's
    for run in saved["runs"]:
        folder = tmp_path / run["results_folder"]
        epochs, final = read_epochs(folder), json.loads((folder / "results.json").read_text())
        assert run["epochs_run"] == len(epochs) == 2 and run["best_epoch"] == final["best_epoch"]
        assert run["test_ndcg@10"] == final["test_result"]["ndcg@10"]
        assert run["epoch_seconds_median"] == pytest.approx(sum(e["train_seconds"] for e in epochs) / 2, abs=1e-3)
        assert run["settings"]["train_mode"] == run["mode"] and run["peak_rss_mib"] > 50
        assert 0 < run["cpu_seconds"] and run["wall_seconds"] > run["epoch_seconds_median"]
    table = done.stdout.split("\n\n")[-1]
    assert table.strip() == saved["table"]
    gru = next(line.split() for line in table.splitlines() if line.startswith("GRU4Rec"))
    first = saved["runs"][0]
    assert gru[:8] == ["GRU4Rec", "sequence,", "2", "epochs", "1", f"{first['test_recall@10']:.4f}",
                       f"{first['test_mrr@10']:.4f}", f"{first['test_ndcg@10']:.4f}"]  # given --epochs: said
    assert gru[-2:] == [f"{first['wall_seconds']:.0f}", f"{first['peak_rss_mib']:.0f}"]

    markdown = run_script(str(BENCHMARKS / "zoo.py"), "--markdown", str(out))
    assert markdown.returncode == 0, markdown.stderr
    lines = markdown.stdout.splitlines()
    assert lines[0].startswith("| model | mode | seeds | test Recall@10 |") and lines[1].startswith("|---|")
    assert lines[2] == "| " + " | ".join(zoo.cells(saved["summary"][0])) + " |" and lines[3].startswith("| STAMP |")

    drawn = run_script(str(BENCHMARKS / "zoo.py"), "--plot", str(out))
    assert drawn.returncode == 0, drawn.stderr
    assert drawn.stdout.split() == [str(tmp_path / "zoo.png"), str(tmp_path / "zoo.svg")]
    assert (tmp_path / "zoo.png").read_bytes()[:4] == b"\x89PNG"
    svg = (tmp_path / "zoo.svg").read_text()
    assert "test NDCG@10" in svg and f"GRU4Rec ({zoo.cells(saved['summary'][0])[1]}; seeds 1)" in svg  # a row's label

    # --resume runs only what the file lacks; --timeout kills a run and records what it finished
    again = run_script(str(BENCHMARKS / "zoo.py"), f"--data_path={data}", "--models=GRU4Rec,STAMP,NARM",
                       f"--json_out={out}", "--resume", "--timeout=0.5", *ZOO_RUN)
    runs = json.loads(out.read_text())["runs"]
    assert again.returncode == 1 and len(runs) == 3, again.stderr[-3000:]
    assert runs[:2] == saved["runs"] and runs[2]["model"] == "NARM" and runs[2]["returncode"] == "timeout"
    assert "NARM-sequence-1: timeout" in again.stderr


def test_a_run_killed_before_its_config_was_written_has_no_epochs(tmp_path):
    (tmp_path / "results" / "GRU4Rec-toy-run").mkdir(parents=True)  # the folder exists, config.yaml not yet
    measured = read_run(tmp_path / "results")
    assert measured["epochs_run"] == 0 and measured["best_epoch"] is None and measured["test_ndcg@10"] is None


def test_zoo_markdown_keeps_each_models_rows_together():
    recbole = dict(zoo_run("A", 1, 0.05), mode="RecBole 1.2.1")
    rows = zoo.summaries([zoo_run("A", 1, 0.1), zoo_run("B", 1, 0.2), recbole])
    assert [(row["model"], row["mode"]) for row in rows][1] == ("B", "sequence")  # first-seen order
    assert [(row["model"], row["mode"]) for row in zoo.by_model(rows)] == [
        ("A", "sequence"), ("A", "RecBole 1.2.1"), ("B", "sequence")]


def test_zoo_keeps_runs_capped_at_some_epochs_apart_from_runs_to_early_stopping():
    capped = [dict(zoo_run("A", seed, 0.1), settings={"epochs": 8}) for seed in (1, 2)]
    rows = zoo.summaries([zoo_run("A", 1, 0.3), *capped])
    assert [row["seeds"] for row in rows] == [[1], [1, 2]]
    assert [zoo.cells(row)[1] for row in rows] == ["sequence", "sequence, 8 epochs"]
    assert rows[1]["test_ndcg@10_mean"] == pytest.approx(0.1)


def test_recbole_zoo_joins_each_epoch_with_its_validation_and_keeps_the_first_best(tmp_path):
    lines = [{"epoch": 0, "train_seconds": 2.0, "train_loss": 9.0}, {"valid_score": 0.1, "valid_mrr@10": 0.1},
             {"epoch": 1, "train_seconds": 4.0, "train_loss": 8.0}, {"valid_score": 0.3, "valid_mrr@10": 0.3},
             {"epoch": 2, "train_seconds": 3.0, "train_loss": 7.0}, {"valid_score": 0.3, "valid_mrr@10": 0.3},
             {"final": {"best_valid_result": {"mrr@10": 0.3}, "test_result": {"mrr@10": 0.25, "ndcg@10": 0.4}}}]
    (tmp_path / "epochs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    read = recbole_zoo.read_epochs(tmp_path / "epochs.jsonl")
    assert read["epochs_run"] == 3 and read["best_epoch"] == 1  # RecBole keeps the first of equal scores
    assert read["epochs"][1] == {"epoch": 1, "train_seconds": 4.0, "train_loss": 8.0, "valid_score": 0.3,
                                 "valid_mrr@10": 0.3}
    assert read["test_mrr@10"] == 0.25 and read["test_ndcg@10"] == 0.4 and read["test_recall@10"] is None
    killed = recbole_zoo.read_epochs(tmp_path / "missing.jsonl")  # killed before its first epoch ended
    assert killed["epochs_run"] == 0 and killed["best_epoch"] is None and killed["test_mrr@10"] is None


def test_bench_next_click_ranks_every_position_of_its_sessions(tmp_path):
    out = tmp_path / "next_click.json"
    done = run_script(str(BENCHMARKS / "bench_next_click.py"), "--events=300", "--items=500", "--num_threads=1",
                      "--rank_ties=median", f"--json_out={out}")
    assert done.returncode == 0, done.stderr[-3000:]
    saved = json.loads(out.read_text())
    # sessions are added until they hold the requested predictions: at most one session (9 predictions) more
    assert 300 <= saved["predictions"] < 310 and set(saved["result"]) == {"recall@20", "mrr@20"}
    assert f"{saved['predictions']:,} predictions over 500 items" in done.stdout
    assert [stage["name"] for stage in saved["stages"]] == ["build sessions and examples", "evaluate"]


def test_protocols_runs_one_model_under_both_protocols_and_measures_leakage(tmp_path):
    import make_session_synthetic

    make_session_synthetic.generate(tmp_path / "synthetic", sessions=400, items=60, classes=4, days=6, seed=1)
    out = tmp_path / "protocols.json"
    done = run_script(str(BENCHMARKS / "protocols.py"), "--datasets=sessynth",
                      f"--synthetic_path={tmp_path / 'synthetic'}",
                      "--models=GRU4Rec", "--protocols=0,1", "--seeds=1", f"--json_out={out}", "--epochs=1",
                      *SMALL_MODEL)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = json.loads(out.read_text())
    assert [run["protocol"] for run in saved["runs"]] == ["leave-one-out", "time split, next click"]
    loo, ts = saved["leakage"]["sessynth/leave-one-out"], saved["leakage"]["sessynth/time split, next click"]
    # leave-one-out tests the last click of every session of 3 or more clicks (RecBole's rule), most of which
    # precede later sessions' training clicks; the time split trains only on sessions that end before the validation day
    clicks = pd.read_csv(tmp_path / "synthetic" / "sessynth" / "sessynth.inter", sep="\t").iloc[:, 0].value_counts()
    assert loo["test_predictions"] == int((clicks >= 3).sum()) and ts["test_predictions"] > 0
    assert loo["training_after_target"] > 0.3 and ts["training_after_target"] == 0.0
    for run in saved["runs"]:
        assert run["returncode"] == 0 and run["test_mrr@20"] is not None and run["settings"]["valid_metric"] == "MRR@20"
    markdown = run_script(str(BENCHMARKS / "protocols.py"), "--markdown", str(out))
    assert markdown.stdout.splitlines()[0].startswith("| dataset | model | protocol |")
    assert markdown.stdout.count("| sessynth | GRU4Rec |") == 2


def test_zoo_keeps_runs_given_other_keys_apart_and_names_the_keys():
    tuned = [dict(zoo_run("A", seed, 0.2), settings={"epochs": 8, "segment_length": 10, "dataset": "x"})
             for seed in (1, 2)]
    rows = zoo.summaries([dict(zoo_run("A", 1, 0.1), settings={"epochs": 8, "dataset": "x"}), *tuned])
    assert [row["seeds"] for row in rows] == [[1], [1, 2]]
    assert [zoo.cells(row)[1] for row in rows] == ["sequence, 8 epochs", "sequence, 8 epochs, segment_length=10"]
    # a key every run was given (the dataset) names no row
