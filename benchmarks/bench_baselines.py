"""The fitted baselines at scale: fit seconds, peak RSS and full-ranking evaluation seconds per model.

    python benchmarks/bench_baselines.py --data_path=/tmp/synth --dataset=synth-10m --num_threads=1 \\
        [--models=ItemKNN,SKNN] [--eval_users=10000] [--json_out=FILE] [--key=value ...]

Each model runs in its own child process (this script with --child), so that its peak RSS (the
child's rusage, from os.wait4) is its own. A child times these stages, each with its wall and CPU
seconds and the largest RSS sampled every 10 ms from /proc/self/status:
  load_and_split   read, filter, remap, order and split the atomic files (`load_data`)
  fit              `model.fit` on the training examples, the model built as a run builds it
  evaluate         full-ranking evaluation of --eval_users validation users (a seeded random
                   subset; 0: all), extrapolated per user to all validation users
Prints one row per model and writes every figure to --json_out (--update keeps the rows of the
models not run now, to re-measure some). Any other --key=value goes to
every model's configuration (e.g. --k=50, --sample_size=1000).

    python benchmarks/bench_baselines.py --markdown FILE.json [FILE.json ...]

prints the saved files' rows as one Markdown table (for docs).
"""
import argparse
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import List, Optional, Sequence

from bench_common import StageRecorder, environment, format_table, load_1min, run_child, write_json
from bench_scale import subset
from gru4recf.config import parse_cli_args
from gru4recf.errors import Gru4recfError
from gru4recf.experiment import build_run, load_config, load_data, make_batches
from gru4recf.runtime import init_seed, resolve_device, set_threads

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = "ItemKNN,SKNN"


def measure(config, eval_users: int) -> dict:
    """One model's stages (see the module docstring) and every figure of them."""
    threads = set_threads(config.num_threads)
    init_seed(config.seed, config.reproducibility)
    recorder = StageRecorder()
    try:
        with recorder.stage("load_and_split"):
            data = load_data(config)
        run = build_run(config, data, resolve_device(config.device))
        with recorder.stage("fit"):
            run.model.fit(data.dataset, data.splits["train"])
        valid = subset(data.splits["valid"], eval_users, config.seed)
        batches = make_batches(config, replace(data, splits=dict(data.splits, valid=valid)), None).valid
        with recorder.stage("evaluate") as evaluate:
            result = run.evaluator.evaluate(run.model, batches)
    finally:
        recorder.close()
    load, fit = recorder.stages[0], recorder.stages[1]
    per_user = evaluate.seconds / max(len(valid), 1)
    return {"model": config.model, "dataset": config.dataset, "threads": threads,
            "users": data.dataset.n_users - 1, "items": data.dataset.n_items - 1,
            "interactions": data.dataset.n_interactions, "valid_users": len(data.splits["valid"]),
            "load_seconds": load.seconds, "load_rss_max_mib": load.rss_max_mib,
            "fit_seconds": fit.seconds, "fit_cpu_seconds": fit.cpu_seconds,
            "fit_rss_start_mib": fit.rss_start_mib, "fit_rss_max_mib": fit.rss_max_mib,
            "fitted_mib": sum(b.numel() * b.element_size() for b in run.model.buffers()) / 2 ** 20,
            "eval_users": len(valid), "eval_seconds": evaluate.seconds, "eval_cpu_seconds": evaluate.cpu_seconds,
            "eval_rss_max_mib": evaluate.rss_max_mib, "eval_ms_per_user": 1000 * per_user,
            "eval_seconds_all_valid": per_user * len(data.splits["valid"]), "eval_result": dict(result),
            "stages": recorder.as_dicts()}


def child_main(model: str, out: str, eval_users: int, overrides: dict) -> int:
    try:
        figures = measure(load_config(config_dict=dict(overrides, model=model, show_progress=False)), eval_users)
    except Gru4recfError as error:
        print(f"bench_baselines: error: {error}", file=sys.stderr)
        return 2
    Path(out).write_text(json.dumps(figures), encoding="utf-8")
    return 0


def run_model(model: str, args, rest: List[str]) -> dict:
    """One model in a child process: its figures plus the child's wall, CPU seconds and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bench_baselines_") as folder:
        out = Path(folder) / "figures.json"
        command = [sys.executable, str(Path(__file__).resolve()), f"--child={model}", f"--child_out={out}",
                   f"--eval_users={args.eval_users}", *rest]
        load_start = load_1min()
        child = run_child(command, ROOT, dict(os.environ), args.timeout)
        figures = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {"model": model}
    figures.update(returncode=child.returncode, wall_seconds=child.wall_seconds, cpu_seconds=child.cpu_seconds,
                   peak_rss_mib=child.peak_rss_mib, load_1min_start=load_start, load_1min_end=load_1min())
    if child.returncode != 0:
        figures["error_tail"] = child.output[-2000:]
    return figures


def table(rows: List[dict]) -> str:
    lines = [["model", "fit s", "fit CPU s", "fit max RSS MiB", "fitted MiB", "eval users", "eval s",
              "eval s (all valid)", "peak RSS MiB", "Recall@10", "NDCG@10"]]
    for row in rows:
        if row["returncode"] != 0:
            lines.append([row["model"], f"failed ({row['returncode']})"] + ["-"] * 8 + [f"{row['peak_rss_mib']:.0f}"])
            continue
        extrapolated = "~" if row["eval_users"] < row["valid_users"] else ""
        lines.append([row["model"], f"{row['fit_seconds']:.1f}", f"{row['fit_cpu_seconds']:.1f}",
                      f"{row['fit_rss_max_mib']:.0f}", f"{row['fitted_mib']:.0f}", row["eval_users"],
                      f"{row['eval_seconds']:.1f}", f"{extrapolated}{row['eval_seconds_all_valid']:.0f}",
                      f"{row['peak_rss_mib']:.0f}", f"{row['eval_result']['recall@10']:.4f}",
                      f"{row['eval_result']['ndcg@10']:.4f}"])
    return format_table(lines, header=True)


MARKDOWN_HEADER = ["dataset", "model", "fit s", "fit CPU s", "fit max RSS MiB", "peak RSS MiB", "eval users",
                   "eval s", "ms/user", "eval s, all valid users", "valid Recall@10", "valid NDCG@10"]


def markdown_table(rows: List[dict]) -> str:
    """Saved rows as Markdown: fit and evaluation figures of each model of each dataset ('~': the
    evaluation of all validation users extrapolated from the measured ones)."""
    lines = ["| " + " | ".join(MARKDOWN_HEADER) + " |", "|" + "---|" * len(MARKDOWN_HEADER)]
    for row in rows:
        if row["returncode"] != 0:
            cells = [row.get("dataset", "-"), row["model"], f"failed ({row['returncode']})"] + ["-"] * 9
        else:
            extrapolated = "~" if row["eval_users"] < row["valid_users"] else ""
            cells = [row["dataset"], row["model"], f"{row['fit_seconds']:.1f}", f"{row['fit_cpu_seconds']:.1f}",
                     f"{row['fit_rss_max_mib']:.0f}", f"{row['peak_rss_mib']:.0f}", str(row["eval_users"]),
                     f"{row['eval_seconds']:.1f}", f"{row['eval_ms_per_user']:.1f}",
                     f"{extrapolated}{row['eval_seconds_all_valid']:.0f}", f"{row['eval_result']['recall@10']:.4f}",
                     f"{row['eval_result']['ndcg@10']:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated fitted models")
    parser.add_argument("--eval_users", type=int, default=10000,
                        help="validation users to evaluate (0 = all); all of them extrapolated per user")
    parser.add_argument("--timeout", type=float, default=None, help="seconds after which a model's child is killed")
    parser.add_argument("--json_out", help="write every figure to this JSON file")
    parser.add_argument("--update", action="store_true",
                        help="keep the other models' rows already in --json_out (re-measure only --models)")
    parser.add_argument("--markdown", nargs="+", metavar="JSON",
                        help="run nothing: print these files' rows as Markdown")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child_out", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.markdown:
        print(markdown_table([row for path in args.markdown
                              for row in json.loads(Path(path).read_text(encoding="utf-8"))["runs"]]))
        return 0
    if args.child:
        return child_main(args.child, args.child_out, args.eval_users, parse_cli_args(rest))
    overrides = parse_cli_args(rest)
    if "model" in overrides:
        parser.error("--model: give --models")
    try:  # every model's configuration checked before any child starts
        for model in args.models.split(","):
            load_config(config_dict=dict(overrides, model=model))
    except Gru4recfError as error:
        print(f"bench_baselines: error: {error}", file=sys.stderr)
        return 2
    rows = []
    if args.update and args.json_out and Path(args.json_out).is_file():
        kept = json.loads(Path(args.json_out).read_text(encoding="utf-8"))["runs"]
        rows = [row for row in kept if row["model"] not in args.models.split(",")]
    for model in args.models.split(","):
        rows.append(run_model(model, args, rest))
        print(f"{model}: {'ok' if rows[-1]['returncode'] == 0 else rows[-1]['returncode']}, "
              f"{rows[-1]['wall_seconds']:.0f} s, peak RSS {rows[-1]['peak_rss_mib']:.0f} MiB"
              + (f"\n{rows[-1]['error_tail']}" if "error_tail" in rows[-1] else ""), file=sys.stderr, flush=True)
        if args.json_out:
            write_json(args.json_out, {"settings": overrides, "eval_users": args.eval_users,
                                       "environment": environment(), "runs": rows, "table": table(rows)})
    print(table(rows))
    return 0 if all(row["returncode"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
