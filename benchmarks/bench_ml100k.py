"""Speed figures for GRU4RecF on MovieLens-100k: preparation, epoch and evaluation seconds, peak RSS.

    python benchmarks/bench_ml100k.py --data_path=../shared/datasets [--epochs=3] [--key=value ...]
    python benchmarks/bench_ml100k.py --data_path=../shared/datasets --to_stopping [--json_out=FILE]

Any config key can be overridden (e.g. --model=GRU4Rec, --train_mode=sequence, --num_threads=1).
Prints one table. By default it times `--epochs` training epochs, each followed by a validation.
With --to_stopping it trains as `run_gru4recf` does (up to the config's `epochs`, early stopping
after `stopping_step` validations without improvement, best weights restored), then tests, and
also reports the total seconds and the test metrics.
"""
import argparse
import statistics
import sys
import time

from bench_common import environment, format_table, peak_rss_mib, prepare_data, write_json
from gru4recf.config import parse_cli_args
from gru4recf.evaluation.evaluator import Evaluator
from gru4recf.experiment import build_run, load_config
from gru4recf.runtime import init_seed, resolve_device, set_threads
from gru4recf.training.trainer import Trainer


class TimedTrainer(Trainer):
    """The library's trainer, recording the wall and CPU seconds of every training epoch."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.epoch_seconds, self.epoch_cpu_seconds = [], []

    def train_epoch(self, batches, epoch: int) -> float:
        start, cpu_start = time.perf_counter(), time.process_time()
        loss = super().train_epoch(batches, epoch)
        self.epoch_seconds.append(time.perf_counter() - start)
        self.epoch_cpu_seconds.append(time.process_time() - cpu_start)
        return loss


class TimedEvaluator(Evaluator):
    """The library's evaluator, recording the wall seconds of every evaluation pass."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seconds = []

    def evaluate(self, model, batches):
        start = time.perf_counter()
        result = super().evaluate(model, batches)
        self.seconds.append(time.perf_counter() - start)
        return result


def measure(config, epochs: int, to_stopping: bool) -> dict:
    threads = set_threads(config.num_threads)
    device = resolve_device(config.device)
    init_seed(config.seed, config.reproducibility)
    start = time.perf_counter()
    data, batches = prepare_data(config)
    prepare_seconds = time.perf_counter() - start
    run = build_run(config, data, device, trainer_class=TimedTrainer, evaluator_class=TimedEvaluator, batches=batches)
    trainer, evaluator, batches = run.trainer, run.evaluator, run.batches
    figures = {"model": config.model, "dataset": config.dataset, "train_mode": config.train_mode,
               "threads": threads, "environment": environment(), "batches_per_epoch": len(batches.train),
               "prep_seconds": prepare_seconds}
    start = time.perf_counter()
    if to_stopping:
        _, best_result = trainer.fit(batches.train, batches.valid)
        figures.update(fit_seconds=time.perf_counter() - start, stopping_epochs=len(trainer.epoch_seconds),
                       best_epoch=trainer.best_epoch, best_valid_result=dict(best_result))
        figures["test_result"] = dict(evaluator.evaluate(run.model, batches.test))
        evaluator.seconds.pop()  # the test pass is not a validation pass
    else:
        for epoch in range(epochs):
            batches.train.set_epoch(epoch)
            trainer.train_epoch(batches.train, epoch)
            evaluator.evaluate(run.model, batches.valid)
    figures.update(epoch_seconds=trainer.epoch_seconds,
                   epoch_seconds_median=statistics.median(trainer.epoch_seconds),
                   epoch_cpu_seconds_median=statistics.median(trainer.epoch_cpu_seconds),
                   eval_seconds_median=statistics.median(evaluator.seconds), peak_rss_mib=peak_rss_mib())
    return figures


def summary(f: dict) -> str:
    rows = [("model", f["model"]), ("train_mode", f["train_mode"]), ("torch threads", f["threads"]),
            ("training batches / epoch", f["batches_per_epoch"]),
            ("data preparation s", f"{f['prep_seconds']:.2f}"),
            ("training epoch s (median)", f"{f['epoch_seconds_median']:.2f} (CPU {f['epoch_cpu_seconds_median']:.2f})"),
            ("training epoch s (all)", " ".join(f"{s:.1f}" for s in f["epoch_seconds"])),
            ("full-ranking validation s (median)", f"{f['eval_seconds_median']:.3f}"),
            ("peak RSS MiB", f"{f['peak_rss_mib']:.0f}")]
    if "fit_seconds" in f:
        rows += [("seconds to early stopping", f"{f['fit_seconds']:.1f} ({f['stopping_epochs']} epochs, "
                                               f"best {f['best_epoch']})"),
                 ("test", "  ".join(f"{k}={v}" for k, v in f["test_result"].items()))]
    return format_table(rows, numeric=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--epochs", type=int, default=3, help="training epochs to time (median reported)")
    parser.add_argument("--to_stopping", action="store_true",
                        help="train to early stopping (the config's epochs/stopping_step) and test")
    parser.add_argument("--json_out", help="also write the figures to this JSON file (atomically)")
    args, rest = parser.parse_known_args(argv)
    overrides = dict(parse_cli_args(rest), show_progress=False)
    config = load_config(config_dict=overrides)
    figures = measure(config, args.epochs, args.to_stopping)
    print(summary(figures))
    if args.json_out:
        write_json(args.json_out, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
