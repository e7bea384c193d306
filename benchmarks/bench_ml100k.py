"""Speed figures for GRU4RecF on MovieLens-100k: preparation, epoch and evaluation seconds, peak RSS.

    python benchmarks/bench_ml100k.py --data_path=../shared/datasets [--epochs=3] [--key=value ...]

Any config key can be overridden (e.g. --model=GRU4Rec, --num_threads=1). Prints one table.
"""
import argparse
import resource
import statistics
import sys
import time

import torch

from gru4recf.config import load_config, parse_cli_args
from gru4recf.models.registry import build_model
from gru4recf.quick_start import prepare_data
from gru4recf.runtime import init_seed, resolve_device, set_threads
from gru4recf.training.evaluator import Evaluator
from gru4recf.training.optim import build_optimizer
from gru4recf.training.trainer import Trainer


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="training epochs to time (median reported)")
    args, rest = parser.parse_known_args(argv)
    overrides = dict(parse_cli_args(rest), show_progress=False)
    config = load_config(config_dict=overrides)
    threads = set_threads(config.num_threads)
    device = resolve_device(config.device)
    init_seed(config.seed, config.reproducibility)
    start = time.perf_counter()
    data = prepare_data(config)
    prepare_seconds = time.perf_counter() - start
    model = build_model(config.model, config, data.dataset.n_items, data.dataset.item_features).to(device)
    evaluator = Evaluator(config.metrics, config.topk, config.metric_decimal_place, device)
    optimizer = build_optimizer(model.parameters(), config.learner, config.learning_rate, config.weight_decay)
    trainer = Trainer(model, optimizer, evaluator, config.epochs, config.valid_metric, device=device)
    epoch_seconds, eval_seconds = [], []
    for epoch in range(args.epochs):
        data.train.set_epoch(epoch)
        start = time.perf_counter()
        trainer.train_epoch(data.train, epoch)
        epoch_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        evaluator.evaluate(model, data.valid)
        eval_seconds.append(time.perf_counter() - start)
    rows = [("model", config.model), ("torch threads", threads), ("training batches / epoch", len(data.train)),
            ("data preparation s", f"{prepare_seconds:.2f}"),
            ("training epoch s (median)", f"{statistics.median(epoch_seconds):.2f}"),
            ("training epoch s (all)", " ".join(f"{s:.1f}" for s in epoch_seconds)),
            ("full-ranking validation s (median)", f"{statistics.median(eval_seconds):.3f}"),
            ("peak RSS MiB", f"{peak_rss_mib():.0f}")]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())
