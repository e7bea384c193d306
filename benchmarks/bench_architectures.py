"""GRU4RecF's architectures x training strategies on one dataset: test Recall@10 / MRR@10 / NDCG@10
and seconds, over several seeds.

    python benchmarks/bench_architectures.py --data_path=/tmp/featsynth --dataset=featsynth \\
        --features=class,vec --seeds=2020,2021,2022 --num_threads=1 [--only=id,parallel-residual] \\
        [--json_out=FILE] [--key=value ...]
    python benchmarks/bench_architectures.py --data_path=../shared/datasets --dataset=ml-100k --features=class

Each row is one design trained to early stopping as `run_gru4recf` does (the default
train_mode here is `sequence`, for speed; any config key can be overridden). Rows: `id` (GRU4Rec
inside GRU4RecF), `feature` and `concat` with all `--features`, one `feature[<f>]` row per feature
when there are several (e.g. the dense vector alone), and `parallel`/`weighted` with each training
strategy. Prints one table with the mean over seeds and each seed's NDCG@10.
"""
import argparse
import statistics
import sys
import time
from typing import Dict, List, Tuple

from bench_common import environment, format_table, write_json
from gru4recf.config import parse_cli_args
from gru4recf.experiment import data_key, load_config, load_data, run_experiment
from gru4recf.runtime import set_threads

STRATEGIES = ("simultaneous", "alternating", "interleaving", "residual")
METRICS = ("recall@10", "mrr@10", "ndcg@10")


def designs(features: List[str]) -> List[Tuple[str, dict]]:
    """(row label, config overrides) for every architecture and strategy."""
    rows = [("id", {"architecture": "id"}),
            ("feature", {"architecture": "feature", "selected_features": features})]
    if len(features) > 1:
        rows += [(f"feature[{name}]", {"architecture": "feature", "selected_features": [name]}) for name in features]
    rows.append(("concat", {"architecture": "concat", "selected_features": features}))
    for architecture in ("parallel", "weighted"):
        rows += [(f"{architecture}-{strategy}", {"architecture": architecture, "training_strategy": strategy,
                                                 "selected_features": features}) for strategy in STRATEGIES]
    return rows


def run_row(overrides: dict, seeds: List[int], cache: Dict) -> dict:
    """Trains one design once per seed, reusing loaded datasets; per-seed test metrics and seconds."""
    runs = []
    for seed in seeds:
        config = load_config("GRU4RecF", config_dict=dict(overrides, seed=seed))
        key = data_key(config)
        if key not in cache:
            cache[key] = load_data(config)
        start, cpu = time.perf_counter(), time.process_time()
        result = run_experiment(config, saved=False, data=cache[key])
        runs.append({"seed": seed, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
                     "best_valid_score": result["best_valid_score"],
                     **{name: result["test_result"][name] for name in METRICS}})
    return {"runs": runs, **{name: statistics.mean(run[name] for run in runs) for name in METRICS + ("seconds",)}}


def table(results: Dict[str, dict]) -> str:
    rows = [["design", "Recall@10", "MRR@10", "NDCG@10", "NDCG@10 per seed", "seconds/run"]]
    for label, figures in results.items():
        per_seed = " ".join(f"{run['ndcg@10']:.4f}" for run in figures["runs"])
        rows.append([label, f"{figures['recall@10']:.4f}", f"{figures['mrr@10']:.4f}", f"{figures['ndcg@10']:.4f}",
                     per_seed, f"{figures['seconds']:.0f}"])
    return format_table(rows, header=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", default="class", help="comma-separated item feature columns")
    parser.add_argument("--seeds", default="2020", help="comma-separated seeds")
    parser.add_argument("--only", help="comma-separated row labels to run (default: all)")
    parser.add_argument("--json_out", help="also write the figures to this JSON file (atomically)")
    args, rest = parser.parse_known_args(argv)
    base = dict({"train_mode": "sequence", "show_progress": False}, **parse_cli_args(rest))
    set_threads(load_config("GRU4RecF", config_dict=base).num_threads)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    rows = designs(args.features.split(","))
    if args.only:
        wanted = args.only.split(",")
        rows = [row for row in rows if row[0] in wanted]
    results, cache = {}, {}
    for label, overrides in rows:
        results[label] = run_row(dict(base, **overrides), seeds, cache)
        print(f"{label}: NDCG@10 {results[label]['ndcg@10']:.4f} ({results[label]['seconds']:.0f} s/run)",
              file=sys.stderr, flush=True)
        if args.json_out:  # after every row, so that a long benchmark stopped midway keeps what it measured
            write_json(args.json_out, {"settings": base, "seeds": seeds, "environment": environment(),
                                       "results": results})
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
