"""Scale figures for one dataset: preparation, one training epoch, full-ranking evaluation, RSS.

    python benchmarks/bench_scale.py --data_path=/tmp/synth --dataset=synth-10m --num_threads=1 \
        [--eval_users=10000] [--max_batches=0] [--json_out=FILE] [--key=value ...]

Defaults (any config key can override them): train_mode=sequence, loss_type=CE,
sampled_softmax={'num_samples': 1024, 'alpha': 0.75}, learner=sparse_adam (the item table's rows
move only when a batch touches them, so a step costs the same whatever the catalogue's size),
show_progress=False.

Stages, each timed with the RSS at its start and end and the largest RSS sampled (every 10 ms)
from /proc/self/status while it ran:
  load_and_split      read, filter, remap, order and split the atomic files (`load_data`)
  make_batches        samplers and batch iterators (`make_batches`; preparation = these two)
  build_model         `gru4recf.experiment.build_run` over those batches: model, optimiser,
                      evaluator, as a run builds them
  batches_only        iterating the training batches without the model (the data pipeline's share)
  train_epoch         Trainer.train_epoch over the epoch (or its first --max_batches batches,
                      the epoch time then extrapolated by batch count, and marked so)
  evaluate            full-ranking evaluation of --eval_users validation users (a seeded random
                      subset), extrapolated per user to all validation users
Peak RSS is ru_maxrss, after preparation and at the end.
"""
import argparse
import itertools
import sys
from dataclasses import replace
from typing import Optional, Sequence

import numpy as np

from bench_common import StageRecorder, current_rss_mib, environment, format_table, peak_rss_mib, write_json
from gru4recf.config import parse_cli_args
from gru4recf.data.split import Examples
from gru4recf.errors import Gru4recfError
from gru4recf.experiment import build_run, load_config, load_data, make_batches, run_mode
from gru4recf.runtime import init_seed, resolve_device, set_threads

DEFAULTS = {"train_mode": "sequence", "loss_type": "CE", "sampled_softmax": {"num_samples": 1024, "alpha": 0.75},
            "learner": "sparse_adam", "show_progress": False}


def subset(examples: Examples, count: int, seed: int) -> Examples:
    """`count` examples chosen at random (kept in their original order), or all of them."""
    if count <= 0 or count >= len(examples):
        return examples
    chosen = np.sort(np.random.default_rng(seed).choice(len(examples), size=count, replace=False))
    return Examples(examples.targets[chosen], examples.starts[chosen])


def measure(config, eval_users: int, max_batches: int) -> dict:
    """Runs the stages and returns every figure (see the module docstring)."""
    threads = set_threads(config.num_threads)
    device = resolve_device(config.device)
    init_seed(config.seed, config.reproducibility)
    recorder = StageRecorder()
    try:
        with recorder.stage("load_and_split"):
            data = load_data(config)
        with recorder.stage("make_batches"):
            prepared = make_batches(config, data, run_mode(config))
        rss_after_prep, peak_after_prep = current_rss_mib(), peak_rss_mib()
        with recorder.stage("build_model"):
            run = build_run(config, data, device, batches=prepared)
        train = run.batches.train
        total_batches = len(train)
        measured = min(max_batches, total_batches) if max_batches > 0 else total_batches
        train.set_epoch(0)
        with recorder.stage("batches_only") as batches_stage:
            for _ in itertools.islice(iter(train), measured):
                pass
        with recorder.stage("train_epoch") as epoch_stage:
            loss = run.trainer.train_epoch(itertools.islice(iter(train), measured), 0)
        valid = subset(data.splits["valid"], eval_users, config.seed)
        batches = make_batches(config, replace(data, splits=dict(data.splits, valid=valid)), None).valid
        with recorder.stage("evaluate") as eval_stage:
            result = run.evaluator.evaluate(run.model, batches)
    finally:
        recorder.close()
    scale = total_batches / max(measured, 1)
    per_user = eval_stage.seconds / max(len(valid), 1)
    prep = recorder.stages[0].seconds + recorder.stages[1].seconds
    dataset, splits = data.dataset, data.splits
    return {
        "dataset": config.dataset, "model": config.model, "train_mode": config.train_mode,
        "loss_type": config.loss_type, "sampled_softmax": config.sampled_softmax, "learner": config.learner,
        "segment_length": config.segment_length if config.train_mode == "sequence" else None,
        "users": dataset.n_users - 1, "items": dataset.n_items - 1, "interactions": dataset.n_interactions,
        "train_targets": len(splits["train"]), "valid_users": len(splits["valid"]),
        "batches_per_epoch": total_batches, "train_batch_size": config.train_batch_size,
        "threads": threads, "environment": environment(),
        "prep_seconds": prep, "prep_cpu_seconds": recorder.stages[0].cpu_seconds + recorder.stages[1].cpu_seconds,
        "rss_after_prep_mib": rss_after_prep, "peak_rss_after_prep_mib": peak_after_prep,
        "epoch_batches_measured": measured, "epoch_seconds_measured": epoch_stage.seconds,
        "epoch_seconds": epoch_stage.seconds * scale, "epoch_cpu_seconds": epoch_stage.cpu_seconds * scale,
        "epoch_extrapolated": measured < total_batches,
        "batches_only_seconds": batches_stage.seconds * scale, "train_loss_measured": loss,
        "eval_users": len(valid), "eval_seconds": eval_stage.seconds, "eval_ms_per_user": 1000 * per_user,
        "eval_seconds_all_valid": per_user * len(splits["valid"]), "eval_result": dict(result),
        "peak_rss_mib": peak_rss_mib(), "stages": recorder.as_dicts(), "stage_table": recorder.table(),
    }


def summary(figures: dict) -> str:
    """The summary rows and the per-stage table, as printed."""
    f = figures
    epoch_note = (f" (extrapolated from {f['epoch_batches_measured']} of {f['batches_per_epoch']} batches: "
                  f"{f['epoch_seconds_measured']:.1f}s)" if f["epoch_extrapolated"] else "")
    rows = [
        ("dataset", f"{f['dataset']}: {f['users']} users, {f['items']} items, {f['interactions']} interactions"),
        ("model / train_mode / loss", f"{f['model']} / {f['train_mode']} / {f['loss_type']}, "
                                      f"sampled_softmax={f['sampled_softmax']}, learner={f['learner']}, "
                                      f"segment_length={f['segment_length']}"),
        ("torch threads", f"{f['threads']} (1-min load average of the machine {f['environment']['load_average_1min']:.1f})"),
        ("training targets / batches per epoch", f"{f['train_targets']} / {f['batches_per_epoch']}"),
        ("data preparation s", f"{f['prep_seconds']:.2f} (CPU {f['prep_cpu_seconds']:.2f})"),
        ("RSS after preparation MiB", f"{f['rss_after_prep_mib']:.0f} (peak so far {f['peak_rss_after_prep_mib']:.0f})"),
        ("training epoch s", f"{f['epoch_seconds']:.1f} (CPU {f['epoch_cpu_seconds']:.1f}){epoch_note}"),
        ("of which building batches s", f"{f['batches_only_seconds']:.1f}"),
        ("full-ranking evaluation", f"{f['eval_seconds']:.2f}s for {f['eval_users']} users = "
                                    f"{f['eval_ms_per_user']:.3f} ms/user"),
        ("evaluation, all validation users s", f"{f['eval_seconds_all_valid']:.1f} ({f['valid_users']} users, "
                                               "extrapolated)" if f["eval_users"] < f["valid_users"] else
                                               f"{f['eval_seconds_all_valid']:.1f} ({f['valid_users']} users)"),
        ("peak RSS MiB", f"{f['peak_rss_mib']:.0f}"),
    ]
    return format_table(rows, numeric=False) + "\n\n" + f["stage_table"]


def parse_args(argv: Optional[Sequence[str]]) -> tuple:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--eval_users", type=int, default=10000,
                        help="validation users to evaluate (0 = all); the full pass is extrapolated")
    parser.add_argument("--max_batches", type=int, default=0,
                        help="time only the first N training batches and extrapolate the epoch (0 = whole epoch)")
    parser.add_argument("--json_out", help="also write the figures to this JSON file (atomically)")
    args, rest = parser.parse_known_args(argv)
    overrides = dict(DEFAULTS)
    overrides.update(parse_cli_args(rest))
    return args, overrides


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        args, overrides = parse_args(argv)
        config = load_config(config_dict=overrides)
        figures = measure(config, args.eval_users, args.max_batches)
    except Gru4recfError as error:
        print(f"bench_scale: error: {error}", file=sys.stderr)
        return 2
    print(summary(figures))
    if args.json_out:
        write_json(args.json_out, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
