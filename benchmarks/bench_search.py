"""The hyper.test grid (10 trials) searched three ways on one dataset (issue 18): hyperopt's loop in
one process (`--workers=1`), in two worker processes (`--workers=2`), and on Ray Tune with 2 CPUs
and ASHA. Each search is a `run_hyper.py` child process, timed whole (Ray's start included); prints
one table (total seconds, trials finished or stopped, best validation score, best configuration
and its test score) and writes the JSON.

    python benchmarks/bench_search.py --dataset=ml-100k --epochs=3 --out=benchmarks/results/search_ml100k.json

Any other `--key=value` is passed to every search (e.g. `--data_path=...`).
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from bench_common import format_table, load_1min, run_child, write_json

ROOT = Path(__file__).resolve().parents[1]
SEARCHES = {  # name: the flags that differ; every trial has one thread
    "hyperopt --workers=1": ["--tool=hyperopt", "--workers=1", "--num_threads=1"],
    "hyperopt --workers=2": ["--tool=hyperopt", "--workers=2", "--num_threads=2"],
    "ray 2 CPUs + ASHA": ["--tool=ray", "--num_threads=2", "--cpus_per_trial=1", "--scheduler=asha",
                          "--grace_period=1", "--reduction_factor=2"],
}


def summarise(name: str, child, output_file: Path, load_before, load_after) -> dict:
    """One search's figures from its results file."""
    rows = [json.loads(line) for line in output_file.read_text().splitlines()] if output_file.exists() else []
    ok = [r for r in rows if r["status"] == "ok"]
    best = min(ok, key=lambda r: (-r["valid_score"], r["trial"])) if ok else None
    metric = best["valid_metric"].lower() if best else None
    return {"search": name, "returncode": child.returncode, "seconds": round(child.wall_seconds, 1),
            "trials": len(rows), "ok": len(ok), "stopped": sum(r["status"] == "stopped" for r in rows),
            "failed": sum(r["status"] == "failed" for r in rows), "valid_metric": metric,
            "best_valid": best["valid_score"] if best else None,
            "best_test": best.get(f"test_{metric}") if best else None,
            "best_config": {"learning_rate": best["learning_rate"], "num_layers": best["num_layers"]} if best else None,
            "load_1min_before": load_before, "load_1min_after": load_after,
            "rows": rows}


def markdown(path: str) -> str:
    """The docs' table (docs/search.md) of a written JSON file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    metric = next((r["valid_metric"] for r in data["searches"] if r["valid_metric"]), "valid")
    lines = [f"| search | seconds | trials ok / stopped / failed | best valid {metric} | its test {metric} | "
             "best config | load (1 min) before / after |", "|---|---|---|---|---|---|---|"]
    for r in data["searches"]:
        config = "-" if r["best_config"] is None else \
            f"learning_rate {r['best_config']['learning_rate']}, num_layers {r['best_config']['num_layers']}"
        lines.append(f"| `{r['search']}` | {r['seconds']:.0f} | {r['ok']} / {r['stopped']} / {r['failed']} | "
                     f"{r['best_valid']} | {r['best_test']} | {config} | "
                     f"{r['load_1min_before']} / {r['load_1min_after']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", default=None, metavar="JSON", help="print the docs' table of a written JSON file")
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial (short: a quick look)")
    parser.add_argument("--out", default="benchmarks/results/search_ml100k.json")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one search may take")
    args, rest = parser.parse_known_args()
    if args.markdown:
        print(markdown(args.markdown))
        return
    results = []
    with tempfile.TemporaryDirectory() as work:
        for name, flags in SEARCHES.items():
            output_file = Path(work) / (name.split()[0] + flags[1].split("=")[-1] + ".jsonl")
            command = [sys.executable, "run_hyper.py", "--model=GRU4RecF", f"--dataset={args.dataset}",
                       "--params_file=hyper.test", f"--epochs={args.epochs}", f"--output_file={output_file}",
                       f"--log_dir={Path(work) / 'log'}", "--show_progress=False", *flags, *rest]
            before = load_1min()
            child = run_child(command, ROOT, dict(os.environ), timeout=args.timeout)
            results.append(summarise(name, child, output_file, before, load_1min()))
            if child.returncode != 0:
                print(f"{name}: exit {child.returncode}\n{child.output[-2000:]}", file=sys.stderr)
    header = ["search", "seconds", "trials ok/stopped/failed", "best valid", "its test", "best config",
              "load before/after"]
    table = [header] + [[r["search"], f"{r['seconds']:.0f}", f"{r['ok']}/{r['stopped']}/{r['failed']}",
                         f"{r['best_valid']}", f"{r['best_test']}",
                         "-" if r["best_config"] is None else
                         f"lr {r['best_config']['learning_rate']}, {r['best_config']['num_layers']} layers",
                         f"{r['load_1min_before']}/{r['load_1min_after']}"] for r in results]
    print(format_table(table, header=True, numeric=False))
    write_json(args.out, {"dataset": args.dataset, "epochs": args.epochs, "params_file": "hyper.test",
                          "extra": rest, "cpus": os.cpu_count(), "searches": results})
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
