"""Next-click evaluation at scale: every position of the test sessions predicted and ranked against
the whole catalogue, timed stage by stage.

    python benchmarks/bench_next_click.py [--events=1000000] [--items=100000] [--model=GRU4Rec] \\
        [--rank_ties=conservative] [--eval_batch_size=4096] [--num_threads=1] [--json_out=FILE]

Sessions of 2-10 clicks (Zipf-like popular items) are built in memory until they hold `--events`
test predictions (a session of n clicks gives n - 1); the model is freshly initialised (its
weights do not change the cost of ranking). The evaluator is the one every run uses: histories
built per batch from the sequence arrays, scores in slices of at most 2^25 floats, ranks counted.
Prints wall and CPU seconds of building the examples and of the evaluation, predictions per
second, and the peak RSS.
"""
import argparse
import sys

import numpy as np
import torch

from bench_common import StageRecorder, environment, peak_rss_mib, write_json
from gru4recf.data.batching import HistoryBatches
from gru4recf.data.split import _expand
from gru4recf.evaluation.evaluator import Evaluator
from gru4recf.models.registry import model_spec
from gru4recf.models.spec import Catalogue
from gru4recf.runtime import set_threads


def sessions(events: int, items: int, seed: int) -> tuple:
    """(items array, offsets) of sessions of 2-10 clicks holding at least `events` predictions."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 11, size=events // 4 + 2)
    lengths = lengths[:int(np.searchsorted(np.cumsum(lengths - 1), events)) + 1]
    weights = 1.0 / np.arange(1, items + 1) ** 0.8
    clicks = rng.choice(items, size=int(lengths.sum()), p=weights / weights.sum()) + 1
    return clicks.astype(np.int64), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="test predictions (next clicks)")
    parser.add_argument("--items", type=int, default=100_000, help="catalogue size")
    parser.add_argument("--model", default="GRU4Rec", help="a model trained by gradients, with its default settings")
    parser.add_argument("--rank_ties", default="conservative", choices=["conservative", "standard", "median"])
    parser.add_argument("--eval_batch_size", type=int, default=4096)
    parser.add_argument("--max_history", type=int, default=50, help="MAX_ITEM_LIST_LENGTH")
    parser.add_argument("--num_threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json_out")
    args = parser.parse_args(argv)
    threads = set_threads(args.num_threads)
    recorder = StageRecorder()
    with recorder.stage("build sessions and examples"):
        clicks, offsets = sessions(args.events, args.items, args.seed)
        starts, lengths = offsets[:-1], np.diff(offsets)
        examples = _expand(starts, starts + 1, lengths - 1)
    spec = model_spec(args.model)
    torch.manual_seed(args.seed)
    model = spec.build(spec.settings.from_values({}), Catalogue(args.items + 1, max_history=args.max_history))
    evaluator = Evaluator(["Recall", "MRR"], [20], ties=args.rank_ties)
    batches = HistoryBatches(clicks, examples, args.max_history, args.eval_batch_size)
    with recorder.stage("evaluate") as stage:
        result = evaluator.evaluate(model, batches)
    recorder.close()
    print(recorder.table())
    rate = len(examples) / stage.seconds
    print(f"{len(examples):,} predictions over {args.items:,} items, {args.model}, {threads} thread(s): "
          f"{stage.seconds:.1f} s ({rate:,.0f} predictions/s), peak RSS {peak_rss_mib():.0f} MiB; {dict(result)}")
    if args.json_out:
        write_json(args.json_out, {"args": vars(args), "environment": environment(), "stages": recorder.as_dicts(),
                                   "predictions": len(examples), "predictions_per_second": rate,
                                   "peak_rss_mib": peak_rss_mib(), "result": dict(result)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
