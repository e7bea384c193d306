"""The model zoo side by side: every model of the registry trained to early stopping on MovieLens-100k
in its fastest training mode, over seeds, each run a `python run.py` child process.

    python benchmarks/zoo.py --data_path=../shared/datasets [--models=SASRec,NARM] [--train_mode=augment] \\
        [--seeds=2020,2021,2022] [--num_threads=1] [--timeout=S] [--json_out=FILE] [--resume] [--key=value ...]
    python benchmarks/zoo.py --markdown FILE.json [FILE.json ...] [--models=SASRec]
    python benchmarks/zoo.py --plot FILE.json [FILE.json ...]

A model trains in its ModelSpec's `fastest_mode` where it declares one (STAMP: 'augment'), else in
train_mode 'sequence' where its `train_modes` has it (one pass per history), else in 'augment'
(`--train_mode=` forces one for every model; a model without it is an error), with its own defaults for everything else; any further --key=value goes to every run
(`--epochs=3` for a quick look, `--dataset=NAME` for another dataset under --data_path). Runs go
one at a time. Every figure of a run is read from its results folder (`epochs.jsonl`,
`results.json`), never from its console: test Recall@10, MRR@10 and NDCG@10 of the best epoch, the
best epoch, the median training seconds of its epochs; the child itself gives its wall seconds
(seconds to early stopping: loading, training, validating and testing), CPU seconds and peak
resident set size (its rusage from os.wait4). `--timeout=S` kills a run after S seconds; it is
recorded with the epochs it finished.

Prints one row per run, then the table: per model and mode, the mean and standard deviation over
seeds (sample standard deviation; none for one seed) of the test metrics, the mean best epoch, the
median over runs of each run's median epoch seconds (for a fitted model 'fit S', its median seconds
of fitting, from results.json), the median seconds to early stopping and the
largest peak RSS. `--json_out` is rewritten after every run (a stopped benchmark keeps what it
measured; `--resume` skips the runs it already holds with the same settings), and each run's
results folder and console output are kept beside it (`<json_out stem>.runs/<model>-<mode>-<seed>/`).
`--markdown` prints the table of saved JSON files as Markdown (for docs), each model's rows
together (so `benchmarks/recbole_zoo.py`'s RecBole rows stand beside ours), with `--models` only
theirs (a model page's rows); `--plot` draws test NDCG@10 and MRR@10 with standard-deviation error
bars and the seconds per epoch, one labelled bar per row of that table (RecBole's in another
colour), as `<first json stem>.png` and `.svg` beside the first JSON file (needs matplotlib).
"""
import argparse
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from bench_common import METRICS, child_row, environment, fmt, format_table, load_1min, read_run, run_child, \
    write_json
from gru4recf.atomic_write import atomic_write_bytes
from gru4recf.config import parse_cli_args
from gru4recf.models.registry import models
from gru4recf.models.spec import ModelSpec
from gru4recf.plots import FORMATS, pyplot  # matplotlib is imported by pyplot(): the benchmark runs without it

ROOT = Path(__file__).resolve().parent.parent
FASTEST_FIRST = ("sequence", "augment")
TABLE_METRICS = ("recall@10", "mrr@10", "ndcg@10")
RUN_KEYS = {"model", "seed", "num_threads", "show_progress", "train_mode", "epochs"}  # the settings every row names
TITLES = {"recall@10": "Recall@10", "mrr@10": "MRR@10", "ndcg@10": "NDCG@10"}


def fastest_mode(spec: ModelSpec, forced: Optional[str] = None) -> str:
    """The training mode a model runs in: `forced` where given, else its declared `fastest_mode`,
    else 'sequence' where it has it, else 'augment'; 'fitted' for a model fitted instead of
    trained by gradients."""
    if spec.fitted:
        return "fitted"
    if forced is not None:
        return forced
    if spec.fastest_mode is not None:
        return spec.fastest_mode
    return next(mode for mode in FASTEST_FIRST if mode in spec.train_modes)


def run_settings(model: str, mode: str, seed: int, extra: dict, num_threads: int) -> dict:
    """The keys a run is given (and by which --resume knows it)."""
    keys = dict(extra, model=model, seed=seed, num_threads=num_threads, show_progress=False)
    if mode != "fitted":
        keys["train_mode"] = mode
    return keys


def run_one(model: str, mode: str, seed: int, settings: dict, args, keep: Optional[Path],
            metrics: Sequence[str] = METRICS) -> dict:
    """One `run.py` run in a child process (`args.data_path`, `args.timeout`); its results folder
    (and console output) are kept in `keep` when given, its checkpoints and log file are not; the
    row holds the validation and test `metrics` of its best epoch."""
    work = Path(tempfile.mkdtemp(prefix="zoo_"))
    results_dir = keep if keep is not None else work / "results"
    if keep is not None:
        shutil.rmtree(keep, ignore_errors=True)  # a run of this name that did not finish before
    command = [sys.executable, str(ROOT / "run.py"), f"--data_path={args.data_path}"]
    command += [f"--{key}={value}" for key, value in settings.items()]
    command += [f"--log_dir={work / 'log'}", f"--checkpoint_dir={work / 'saved'}", f"--results_dir={results_dir}"]
    load_start = load_1min()
    child = run_child(command, ROOT, dict(os.environ), args.timeout)
    measured = read_run(results_dir, metrics)
    shutil.rmtree(work, ignore_errors=True)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / "console.log").write_text(" ".join(command) + "\n\n" + child.output, encoding="utf-8")
    folders = sorted(results_dir.glob("*/")) if keep is not None else []
    return child_row(model, mode, seed, child, load_start, settings, " ".join(["python", "run.py"] + command[2:-3]),
                     measured, results_folder=str(folders[0].relative_to(keep.parent.parent)) if folders else None)


def mean_std(values: Sequence[float]) -> tuple:
    """(mean, sample standard deviation) of `values`; (None, None) for none, std None for one."""
    if not values:
        return None, None
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else None


def summaries(runs: List[dict]) -> List[dict]:
    """Per (model, mode, epochs cap: a run given `epochs` is not pooled with runs to early stopping,
    and any setting some runs were given and others not, which the row's mode then names),
    in the order the runs first name them: the test metrics' mean and standard
    deviation and the mean best epoch over the finished runs, the median of the runs' median
    epoch seconds (killed runs too: their epochs were measured), the median wall seconds of the
    finished runs (seconds to early stopping) and the largest peak RSS of all of them."""
    groups: Dict[tuple, List[dict]] = {}
    shared = set.intersection(*({(key, repr(value)) for key, value in run.get("settings", {}).items()}
                                for run in runs)) if runs else set()
    for run in runs:
        settings = run.get("settings", {})
        extra = tuple(sorted((key, value) for key, value in settings.items()
                             if key not in RUN_KEYS and (key, repr(value)) not in shared))
        groups.setdefault((run["model"], run["mode"], settings.get("epochs"), extra), []).append(run)
    out = []
    for (model, mode, epochs, extra), members in groups.items():
        done = [run for run in members if run["returncode"] == 0]
        epoch_seconds = [run["epoch_seconds_median"] for run in members if run["epoch_seconds_median"] is not None]
        row = {"model": model, "mode": mode, "epochs": epochs, "extra": dict(extra),
               "seeds": [run["seed"] for run in done],
               "failed": [{"seed": run["seed"], "returncode": run["returncode"], "wall_seconds": run["wall_seconds"]}
                          for run in members if run["returncode"] != 0],
               "best_epoch_mean": mean_std([run["best_epoch"] for run in done])[0],
               "epoch_seconds_median": statistics.median(epoch_seconds) if epoch_seconds else None,
               "fit_seconds_median": _median([run.get("fit_seconds") for run in done]),
               "wall_seconds_median": statistics.median(run["wall_seconds"] for run in done) if done else None,
               "peak_rss_mib_max": max(run["peak_rss_mib"] for run in members)}
        for metric in METRICS:
            row[f"test_{metric}_mean"], row[f"test_{metric}_std"] = mean_std([run[f"test_{metric}"] for run in done])
        out.append(row)
    return out


def _median(values: Sequence[Optional[float]]) -> Optional[float]:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def by_model(rows: List[dict]) -> List[dict]:
    """Summary rows with each model's rows together (recbole_zoo.py's beside ours), models in the
    order they first appear."""
    first = {}
    for index, row in enumerate(rows):
        first.setdefault(row["model"], index)
    return sorted(rows, key=lambda row: first[row["model"]])  # stable: a model's rows keep their order


def mean_pm_std(row: dict, metric: str, pm: str = " ± ") -> str:
    mean, std = row[f"test_{metric}_mean"], row[f"test_{metric}_std"]
    return fmt(mean) + ("" if std is None else f"{pm}{std:.4f}")


def seeds_cell(row: dict) -> str:
    failed = ", ".join(f"{f['seed']}: {'killed' if f['returncode'] == 'timeout' else 'exit ' + str(f['returncode'])}"
                       for f in row["failed"])
    return str(len(row["seeds"])) + (f" ({failed})" if failed else "")


def mode_cell(row: dict) -> str:
    """The training mode with what capped or changed it: `--epochs` and the extra settings."""
    epochs = row.get("epochs")
    mode = row["mode"] + ("" if epochs is None else f", {epochs} epoch" + ("s" if epochs != 1 else ""))
    return mode + "".join(f", {key}={value}" for key, value in row.get("extra", {}).items())


def killed_after(row: dict) -> Optional[float]:
    """The longest wall seconds of a model's killed runs when none of its runs finished: it needs more."""
    killed = [f["wall_seconds"] for f in row["failed"] if f["returncode"] == "timeout"]
    return max(killed) if killed and not row["seeds"] else None


def cells(row: dict, pm: str = " ± ") -> List[str]:
    """A summary row as the text and Markdown tables show it (s to stop '>S': every run was killed)."""
    seconds, killed = row["wall_seconds_median"], killed_after(row)
    stop = f"{seconds:.0f}" if seconds is not None else f">{killed:.0f}" if killed is not None else "-"
    fit = row.get("fit_seconds_median")
    per_epoch = fmt(row["epoch_seconds_median"], 2) if fit is None else f"fit {fit:.2f}"
    return [row["model"], mode_cell(row), seeds_cell(row), *(mean_pm_std(row, m, pm) for m in TABLE_METRICS),
            fmt(row["best_epoch_mean"], 1), per_epoch, stop,
            f"{row['peak_rss_mib_max']:.0f}"]


HEADER = ["model", "mode", "seeds", "test Recall@10", "test MRR@10", "test NDCG@10", "best epoch", "s/epoch",
          "s to stop", "peak RSS MiB"]


def summary_table(rows: List[dict]) -> str:
    return format_table([HEADER] + [cells(row) for row in rows], header=True)


def markdown_table(rows: List[dict]) -> str:
    """The table as Markdown (docs): mean ± standard deviation over seeds; s/epoch the median epoch,
    s to stop the median wall seconds of a whole run, peak RSS the largest of the runs."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def runs_table(runs: List[dict]) -> str:
    rows = [["model", "mode", "seed", "status", "epochs", "best", "test R@10", "test MRR", "test NDCG", "s/epoch",
             "wall s", "CPU s", "peak RSS MiB", "load"]]
    for run in runs:
        rows.append([run["model"], run["mode"], run["seed"], "ok" if run["returncode"] == 0 else run["returncode"],
                     run["epochs_run"], "-" if run["best_epoch"] is None else run["best_epoch"],
                     *(fmt(run[f"test_{m}"]) for m in TABLE_METRICS), fmt(run["epoch_seconds_median"], 2),
                     f"{run['wall_seconds']:.1f}", f"{run['cpu_seconds']:.1f}", f"{run['peak_rss_mib']:.0f}",
                     f"{run['load_1min_start']}-{run['load_1min_end']}"])
    return format_table(rows, header=True)


def plot(paths: Sequence[Path]) -> List[Path]:
    """Test NDCG@10 and MRR@10 (error bars: standard deviation over seeds) and the median seconds
    per training epoch (log scale), one horizontal bar per model and mode labelled as the table's
    row, each model's bars together and RecBole's own runs in another colour, as `<stem>.png` and
    `.svg` beside the first JSON file. A model none of whose runs finished has no metric bars; a
    fitted model has no epoch bar."""
    runs = [run for path in paths for run in json.loads(path.read_text(encoding="utf-8"))["runs"]]
    rows = by_model(summaries(runs))
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, sharey=True, figsize=(15.0, max(4.0, 1.5 + 0.28 * len(rows))))
    labels = [f"{row['model']} ({mode_cell(row)}; seeds {seeds_cell(row)})" for row in rows]
    colours = ["tab:orange" if row["mode"].startswith("RecBole") else "tab:blue" for row in rows]
    positions = range(len(rows))
    nan = float("nan")  # no bar
    for axis, metric in zip(axes, ("ndcg@10", "mrr@10")):
        means = [nan if row[f"test_{metric}_mean"] is None else row[f"test_{metric}_mean"] for row in rows]
        stds = [nan if row[f"test_{metric}_std"] is None else row[f"test_{metric}_std"] for row in rows]
        axis.barh(positions, means, xerr=stds, capsize=3, color=colours)
        axis.set(xlabel=f"test {TITLES[metric]}", title=f"test {TITLES[metric]} (± std over seeds)")
    axes[2].barh(positions, [nan if row["epoch_seconds_median"] is None else row["epoch_seconds_median"]
                             for row in rows], color=colours)
    axes[2].set(xlabel="seconds (median)", title="seconds per training epoch", xscale="log")
    axes[0].set_yticks(list(positions), labels, fontsize=8)
    axes[0].invert_yaxis()  # the table's order, top to bottom
    for axis in axes:
        axis.grid(axis="x", alpha=0.3)
    figure.suptitle(f"{', '.join(path.name for path in paths)}: gru4recf in blue, RecBole 1.2.1's own runs in "
                    "orange", fontsize=8, wrap=True)
    figure.tight_layout()
    written = []
    try:
        for suffix in FORMATS:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=suffix, dpi=120)
            written.append(paths[0].with_suffix(f".{suffix}"))
            atomic_write_bytes(written[-1], buffer.getvalue())
    finally:
        plt.close(figure)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--data_path", default="../shared/datasets", help="folder holding ml-100k/")
    parser.add_argument("--models", help="comma-separated model names (default: every model of the registry)")
    parser.add_argument("--train_mode", choices=FASTEST_FIRST, help="train every model in this mode")
    parser.add_argument("--seeds", default="2020,2021,2022", help="comma-separated seeds")
    parser.add_argument("--num_threads", type=int, default=1, help="torch threads of every run")
    parser.add_argument("--timeout", type=float, default=None, help="seconds after which a run is killed")
    parser.add_argument("--json_out", help="write every run and the table to this JSON file after each run")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in --json_out and skip those with the same settings")
    parser.add_argument("--markdown", nargs="+", metavar="JSON", help="run nothing: print these files' table as Markdown")
    parser.add_argument("--plot", nargs="+", metavar="JSON",
                        help="run nothing: draw these files' comparison as PNG and SVG beside the first")
    args, rest = parser.parse_known_args(argv)
    if args.markdown:
        chosen = set(args.models.split(",")) if args.models else None
        runs = [run for path in args.markdown for run in json.loads(Path(path).read_text(encoding="utf-8"))["runs"]
                if chosen is None or run["model"] in chosen]
        print(markdown_table(by_model(summaries(runs))))
        return 0
    if args.plot:
        for written in plot([Path(path) for path in args.plot]):
            print(written)
        return 0
    extra = parse_cli_args(rest)
    reserved = sorted(set(extra) & {"model", "train_mode", "seed", "num_threads", "data_path", "results_dir"})
    if reserved:
        parser.error(f"{', '.join(reserved)}: set by this benchmark (--models, --train_mode, --seeds, --num_threads, "
                     "--data_path), not a key for every run")
    registry = models()
    names = args.models.split(",") if args.models else sorted(registry)
    unknown = [name for name in names if name not in registry]
    if unknown:
        parser.error(f"unknown models {unknown}; available: {', '.join(sorted(registry))}")
    unable = [name for name in names if args.train_mode and not registry[name].fitted
              and args.train_mode not in registry[name].train_modes]  # a fitted model is fitted whatever the mode
    if unable:
        parser.error(f"--train_mode={args.train_mode}: not a mode of {', '.join(unable)} (leave them out with --models)")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    out = Path(args.json_out) if args.json_out else None
    runs: List[dict] = []
    if args.resume and out is not None and out.exists():
        runs = json.loads(out.read_text(encoding="utf-8"))["runs"]
    for name in names:
        mode = fastest_mode(registry[name], args.train_mode)
        for seed in seeds:
            settings = run_settings(name, mode, seed, extra, args.num_threads)
            if any(run["settings"] == settings for run in runs):
                continue
            tag = f"{name}-{mode}-{seed}"
            run = run_one(name, mode, seed, settings, args, out.with_suffix(".runs") / tag if out else None)
            runs.append(run)
            print(f"{tag}: {run['returncode'] if run['returncode'] != 0 else 'ok'}, {run['epochs_run']} epochs "
                  f"(best {run['best_epoch']}), test NDCG@10 {fmt(run['test_ndcg@10'])}, {run['wall_seconds']:.0f} s, "
                  f"peak RSS {run['peak_rss_mib']:.0f} MiB", file=sys.stderr, flush=True)
            if out is not None:  # after every run, so that a long benchmark stopped midway keeps what it measured
                write_json(str(out), {"extra": extra, "seeds": seeds, "environment": environment(args.num_threads),
                                      "runs": runs, "summary": summaries(runs), "table": summary_table(summaries(runs))})
    print(runs_table(runs))
    print()
    print(summary_table(summaries(runs)))
    return 0 if all(run["returncode"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
