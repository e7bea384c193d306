"""Candidate default recipes for GRU4RecF on MovieLens-100k (issue 17, item 1): quality and seconds
to early stopping, each run of `python run.py` in a fresh process, over seeds.

    python benchmarks/bench_recipe.py --data_path=../shared/datasets [--recipes=seq_lr3_p10,seq_lr5_p5] \\
        [--seeds=2020,2021,2022] [--num_threads=1] [--neighbour] [--env=OMP_WAIT_POLICY=PASSIVE] \\
        [--json_out=FILE] [--resume] [--timeout=S] [--key=value ...]
    python benchmarks/bench_recipe.py --list
    python benchmarks/bench_recipe.py --json_out=FILE --what_if_patience=3

A recipe is a named set of config keys (RECIPES below; any further --key=value is added to every
run). Each (recipe, seed) is one `run.py` run, one at a time, in a child process that loads the
data, trains to early stopping, tests and writes its checkpoints and log as a user's run does
(into a temporary folder). Per run it records the epochs run, the best epoch, the best epoch's
validation MRR@10/NDCG@10, test MRR@10/NDCG@10/Recall@10, the wall seconds of the whole child, the
child's CPU seconds (user + system) and peak RSS (its own rusage, from os.wait4), the 1-minute load
average at the start and end, and the CPU seconds other processes used meanwhile (the machine's
busy time from /proc/stat less the child and the neighbour): a figure whose "others" is large was measured beside other work.
`--neighbour` runs one CPU-bound busy loop beside every run (a busy machine). The JSON file is
rewritten after every run (so a stopped benchmark keeps what it measured; `--resume` skips the runs
it already holds) and the child's output is kept beside it (`<json_out stem>.logs/`). Prints every
run and the per-recipe means over seeds (median wall seconds). `--what_if_patience=P` runs nothing:
it reads the runs of --json_out off their validation curves as `stopping_step=P` would have ended
them (a seed trains the same epochs whatever its patience), with the test figures only where the
best epoch stays the same.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

from bench_common import (METRICS, children_cpu, environment, fmt, format_table, load_1min, machine_cpu, read_run,
                          run_child, write_json)
from gru4recf.config import parse_cli_args

ROOT = Path(__file__).resolve().parent.parent
SEQUENCE = {"train_mode": "sequence", "segment_length": 50}
RECIPES: Dict[str, dict] = {
    # configs/gru4recf_ml100k_sequence.yaml with the defaults (train_batch_size 2048, stopping_step 10)
    "seq_lr3_p10": dict(SEQUENCE, learning_rate=0.003, stopping_step=10),
    "seq_lr3_p5": dict(SEQUENCE, learning_rate=0.003, stopping_step=5),
    "seq_lr3_p3": dict(SEQUENCE, learning_rate=0.003, stopping_step=3),
    "seq_lr5_p5": dict(SEQUENCE, learning_rate=0.005, stopping_step=5),
    "seq_lr10_p5": dict(SEQUENCE, learning_rate=0.01, stopping_step=5),
    "seq_lr5_b4096_p5": dict(SEQUENCE, learning_rate=0.005, train_batch_size=4096, stopping_step=5),
    "seq_lr3_b1024_p5": dict(SEQUENCE, learning_rate=0.003, train_batch_size=1024, stopping_step=5),
    # less GRU work per epoch: 1.30x the targets in steps with warm-ups of 20, 1.29x with segments of
    # 100 (warm-ups of 50), against 1.76x for segments of 50 with warm-ups of 50 (ml-100k)
    "seq_lr3_w20_p5": dict(SEQUENCE, learning_rate=0.003, warmup_length=20, stopping_step=5),
    "seq_lr3_s100_p5": dict(SEQUENCE, segment_length=100, learning_rate=0.003, stopping_step=5),
}


def run_one(recipe: str, overrides: dict, seed: int, args, env: dict, log_path: Optional[Path]) -> dict:
    """One `run.py` run in a child process (and, with --neighbour, a busy loop beside it)."""
    work = Path(tempfile.mkdtemp(prefix="bench_recipe_"))
    settings = dict(overrides, seed=seed, num_threads=args.num_threads, show_progress=False)
    command = [sys.executable, str(ROOT / "run.py"), f"--data_path={args.data_path}"]
    command += [f"--{key}={value}" for key, value in settings.items()]
    command += [f"--log_dir={work / 'log'}", f"--checkpoint_dir={work / 'saved'}", f"--results_dir={work / 'results'}"]
    load_start = load_1min()
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.neighbour else None
    cpu_before, (busy_before, steal_before) = children_cpu(), machine_cpu()
    child = run_child(command, ROOT, env, args.timeout)
    output, returncode, wall, cpu = child.output, child.returncode, child.wall_seconds, child.cpu_seconds
    busy_after, steal_after = machine_cpu()
    load_end = load_1min()
    neighbour_cpu = 0.0
    if neighbour is not None:
        neighbour.kill()
        neighbour.wait()
        neighbour_cpu = children_cpu() - cpu_before - cpu
    measured = read_run(work / "results")
    shutil.rmtree(work, ignore_errors=True)
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(" ".join(command) + "\n\n" + output)
    row = {"recipe": recipe, "seed": seed, "threads": args.num_threads, "neighbour": args.neighbour,
           "env": args.env, "returncode": returncode, "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
           "peak_rss_mib": round(child.peak_rss_mib, 1),
           "neighbour_cpu_seconds": round(neighbour_cpu, 2),
           "others_cpu_seconds": round(busy_after - busy_before - cpu - neighbour_cpu, 2),
           "steal_seconds": round(steal_after - steal_before, 2),
           "load_1min_start": load_start, "load_1min_end": load_end, "settings": settings,
           "command": " ".join(command[:1] + [str(Path(command[1]).relative_to(ROOT))] + command[2:-3])}
    row.update(measured)
    if returncode != 0:
        row["error_tail"] = output[-2000:]
    return row


def with_patience(run: dict, patience: int) -> Optional[dict]:
    """The run that `stopping_step=patience` would have made, read off a run with a larger patience
    (the same seed trains the same epochs until the earlier stop; every epoch validated): its stop,
    best epoch and validation figures, its test figures where the best epoch is the measured run's
    (else None), and its wall/CPU seconds less the epochs (training + validation) it would not
    have run. None where the run cannot tell (a smaller patience, eval_step > 1, an error)."""
    settings = run["settings"]
    if run["returncode"] != 0 or settings.get("stopping_step", 10) <= patience or settings.get("eval_step", 1) != 1:
        return None
    best, best_epoch, stale, stop = float("-inf"), None, 0, None
    for row in run["epochs"]:
        score = row.get("valid_score", row.get("valid_valid_score"))  # (valid_valid_score: older files)
        if score >= best:
            best, best_epoch, stale = score, row["epoch"], 0
        else:
            stale += 1
        if stale > patience:
            stop = row["epoch"]
            break
    if stop is None:  # the measured run stopped first: nothing changes
        return dict(run, recipe=f"{run['recipe']}>p{patience}", derived=True)
    rows = {row["epoch"]: row for row in run["epochs"]}
    dropped = [row for row in run["epochs"] if row["epoch"] > stop]
    saved = sum(row["train_seconds"] + row.get("valid_seconds", 0.0) for row in dropped)
    same_best = best_epoch == run["best_epoch"]
    derived = dict(run, recipe=f"{run['recipe']}>p{patience}", derived=True, epochs_run=stop + 1,
                   best_epoch=best_epoch, wall_seconds=round(run["wall_seconds"] - saved, 2),
                   cpu_seconds=round(run["cpu_seconds"] * (1 - saved / run["wall_seconds"]), 2),
                   settings=dict(settings, stopping_step=patience), epochs=[rows[e] for e in sorted(rows) if e <= stop])
    for metric in METRICS:
        derived[f"valid_{metric}"] = rows[best_epoch].get(f"valid_{metric}")
        if not same_best:
            derived[f"test_{metric}"] = None
    return derived


def runs_table(runs: List[dict]) -> str:
    rows = [["recipe", "seed", "thr", "nb", "epochs", "best", "val MRR", "val NDCG", "test MRR", "test NDCG",
             "test R@10", "wall s", "CPU s", "others s", "load"]]
    for run in runs:
        rows.append([run["recipe"], run["seed"], run["threads"], "y" if run["neighbour"] else "-", run["epochs_run"],
                     run["best_epoch"], fmt(run["valid_mrr@10"]), fmt(run["valid_ndcg@10"]), fmt(run["test_mrr@10"]),
                     fmt(run["test_ndcg@10"]), fmt(run["test_recall@10"]), f"{run['wall_seconds']:.1f}",
                     f"{run['cpu_seconds']:.1f}", f"{run['others_cpu_seconds']:.0f}",
                     f"{run['load_1min_start']}-{run['load_1min_end']}"])
    return format_table(rows, header=True)


def group_key(run: dict) -> tuple:
    return run["recipe"], run["threads"], run["neighbour"], tuple(run["env"])


def summaries(runs: List[dict]) -> List[dict]:
    """Per (recipe, threads, neighbour, env): means over seeds, median wall and CPU seconds."""
    groups: Dict[tuple, List[dict]] = {}
    for run in runs:
        if run["returncode"] == 0:
            groups.setdefault(group_key(run), []).append(run)
    out = []
    for (recipe, threads, neighbour, env), members in groups.items():
        row = {"recipe": recipe, "threads": threads, "neighbour": neighbour, "env": list(env),
               "seeds": [run["seed"] for run in members],
               "epochs_mean": statistics.mean(run["epochs_run"] for run in members),
               "wall_seconds_median": statistics.median(run["wall_seconds"] for run in members),
               "cpu_seconds_median": statistics.median(run["cpu_seconds"] for run in members)}
        for split in ("valid", "test"):
            for metric in METRICS:
                values = [run[f"{split}_{metric}"] for run in members if run[f"{split}_{metric}"] is not None]
                row[f"{split}_{metric}_mean"] = statistics.mean(values) if len(values) == len(members) else None
        out.append(row)
    return sorted(out, key=lambda row: -(row["valid_mrr@10_mean"] or 0))


def summary_table(rows: List[dict]) -> str:
    table = [["recipe (by valid MRR)", "thr", "nb", "seeds", "epochs", "val MRR", "val NDCG", "test MRR",
              "test NDCG", "test R@10", "median wall s", "median CPU s"]]
    for row in rows:
        table.append([row["recipe"] + (" " + " ".join(row["env"]) if row["env"] else ""), row["threads"],
                      "y" if row["neighbour"] else "-", len(row["seeds"]), f"{row['epochs_mean']:.1f}",
                      fmt(row["valid_mrr@10_mean"]), fmt(row["valid_ndcg@10_mean"]), fmt(row["test_mrr@10_mean"]),
                      fmt(row["test_ndcg@10_mean"]), fmt(row["test_recall@10_mean"]),
                      f"{row['wall_seconds_median']:.1f}", f"{row['cpu_seconds_median']:.1f}"])
    return format_table(table, header=True)


def recipe_label(recipe: str, env: List[str]) -> str:
    keys = [f"{k}={v}" for k, v in RECIPES[recipe].items() if SEQUENCE.get(k) != v]
    return f"`{recipe}` ({' '.join(keys + list(env))})"


def markdown_summary(runs: List[dict]) -> str:
    """Means over seeds per (recipe, threads, neighbour, environment), as docs/results.md shows them;
    rows in the order the file first has them."""
    lines = ["| recipe | threads | neighbour | seeds | epochs | valid MRR@10 | test MRR@10 | test NDCG@10 "
             "| test Recall@10 | wall s (median) | CPU s (median) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    order = {key: index for index, key in reversed(list(enumerate(group_key(run) for run in runs)))}
    for row in sorted(summaries(runs), key=lambda row: order[(row["recipe"], row["threads"], row["neighbour"],
                                                              tuple(row["env"]))]):
        lines.append(f"| {recipe_label(row['recipe'], row['env'])} | {row['threads']} "
                     f"| {'yes' if row['neighbour'] else 'no'} | {','.join(map(str, row['seeds']))} "
                     f"| {row['epochs_mean']:.1f} | {fmt(row['valid_mrr@10_mean'], 5)} "
                     f"| {fmt(row['test_mrr@10_mean'])} | {fmt(row['test_ndcg@10_mean'])} "
                     f"| {fmt(row['test_recall@10_mean'])} | {row['wall_seconds_median']:.0f} "
                     f"| {row['cpu_seconds_median']:.0f} |")
    return "\n".join(lines)


def markdown_runs(runs: List[dict]) -> str:
    """One row per run, with the CPU seconds other processes took meanwhile (a large figure means the
    run was measured beside other work) and killed runs marked."""
    lines = ["| recipe | seed | threads | neighbour | epochs | test NDCG@10 | wall s | CPU s | others' CPU s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        wall = f"{run['wall_seconds']:.0f}" + ("" if run["returncode"] == 0 else f" (killed: {run['returncode']})")
        lines.append(f"| {recipe_label(run['recipe'], run['env'])} | {run['seed']} | {run['threads']} "
                     f"| {'yes' if run['neighbour'] else 'no'} | {run['epochs_run']} "
                     f"| {fmt(run['test_ndcg@10']) if run['returncode'] == 0 else '-'} | {wall} "
                     f"| {run['cpu_seconds']:.0f} | {run['others_cpu_seconds']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--data_path", default="../shared/datasets", help="folder holding ml-100k/")
    parser.add_argument("--recipes", default=",".join(list(RECIPES)[:7]), help="comma-separated recipe names")
    parser.add_argument("--seeds", default="2020,2021,2022", help="comma-separated seeds")
    parser.add_argument("--num_threads", type=int, default=1, help="torch threads of every run")
    parser.add_argument("--neighbour", action="store_true", help="run one CPU-bound busy loop beside every run")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment variable for the child (repeatable), e.g. OMP_WAIT_POLICY=PASSIVE")
    parser.add_argument("--timeout", type=float, default=None, help="seconds after which a run is killed")
    parser.add_argument("--json_out", help="write every run and the summary to this JSON file after each run")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in --json_out and skip those with the same settings")
    parser.add_argument("--list", action="store_true", help="print the recipes and exit")
    parser.add_argument("--what_if_patience", type=int, metavar="P",
                        help="run nothing: print the runs in --json_out as stopping_step=P would have ended them "
                             "(read off their validation curves; test figures only where the best epoch is the same)")
    parser.add_argument("--markdown", nargs="+", metavar="JSON",
                        help="run nothing: print the runs of these JSON files as a Markdown table of docs/results.md "
                             "(means over seeds; with --per_run one row per run)")
    parser.add_argument("--per_run", action="store_true", help="with --markdown: one row per run")
    args, rest = parser.parse_known_args(argv)
    if args.markdown:
        runs = [run for path in args.markdown for run in json.loads(Path(path).read_text())["runs"]]
        print(markdown_runs(runs) if args.per_run else markdown_summary(runs))
        return 0
    if args.list:
        print(format_table([[name, " ".join(f"{k}={v}" for k, v in keys.items())] for name, keys in RECIPES.items()],
                           numeric=False))
        return 0
    if args.what_if_patience is not None:
        runs = json.loads(Path(args.json_out).read_text())["runs"]
        derived = [row for row in (with_patience(run, args.what_if_patience) for run in runs) if row is not None]
        print(runs_table(derived))
        print()
        print(summary_table(summaries(derived)))
        return 0
    extra = parse_cli_args(rest)
    names = args.recipes.split(",")
    unknown = [name for name in names if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipes {unknown}; --list shows them")
    env = dict(os.environ)
    for pair in args.env:
        key, _, value = pair.partition("=")
        env[key] = value
    seeds = [int(seed) for seed in args.seeds.split(",")]
    logs = Path(args.json_out).with_suffix(".logs") if args.json_out else None
    runs: List[dict] = []
    if args.resume and args.json_out and Path(args.json_out).exists():
        runs = json.loads(Path(args.json_out).read_text())["runs"]
    for name in names:
        overrides = dict(RECIPES[name], **extra)
        for seed in seeds:
            done = [run for run in runs if group_key(run) == (name, args.num_threads, args.neighbour, tuple(args.env))
                    and run["seed"] == seed and run["settings"] == dict(overrides, seed=seed,
                                                                        num_threads=args.num_threads,
                                                                        show_progress=False)]
            if done:
                continue
            tag = f"{name}-{seed}-t{args.num_threads}" + ("-nb" if args.neighbour else "") \
                + "".join(f"-{pair}" for pair in args.env)
            run = run_one(name, overrides, seed, args, env, logs / f"{tag}.log" if logs else None)
            runs.append(run)
            print(f"{tag}: {run['epochs_run']} epochs (best {run['best_epoch']}), valid MRR@10 "
                  f"{fmt(run['valid_mrr@10'])}, test NDCG@10 {fmt(run['test_ndcg@10'])}, {run['wall_seconds']:.0f} s "
                  f"(CPU {run['cpu_seconds']:.0f} s, others {run['others_cpu_seconds']:.0f} s, load "
                  f"{run['load_1min_start']}-{run['load_1min_end']})", file=sys.stderr, flush=True)
            if args.json_out:  # after every run, so that a long benchmark stopped midway keeps what it measured
                write_json(args.json_out, {"recipes": {n: RECIPES.get(n) for n in sorted({r["recipe"] for r in runs})},
                                           "extra": extra,
                                           "seeds": seeds, "environment": environment(), "runs": runs,
                                           "summary": summaries(runs)})
    print(runs_table(runs))
    print()
    print(summary_table(summaries(runs)))
    return 0 if all(run["returncode"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
