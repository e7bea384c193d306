"""Where a training batch's time goes: batch building, zero_grad, forward+backward, optimiser step.

    python benchmarks/profile_steps.py --data_path=/tmp/synth --dataset=synth-10m --num_threads=1 \
        [--batches=40] [--torch_profile=15] [--autocast=bfloat16] [--key=value ...]

Same defaults as bench_scale.py (sequence mode, sampled softmax). Times `--batches` training
batches phase by phase (wall and CPU ms per batch, after one warm-up batch), the way
Trainer.train_epoch runs them; with --torch_profile=N it also prints torch.profiler's top
operators over N more batches; with --autocast=bfloat16 (or float16) forward and backward run
under torch.autocast, to measure mixed precision (RecBole's `enable_amp`) before building it in. Costs that grow with the catalogue (dense embedding gradients,
the optimiser over the item table) show up as the 10M/1M ratio of a phase exceeding the ratio of
work per batch (which is the same: batches hold train_batch_size targets).
"""
import argparse
import contextlib
import sys
import time
from typing import Optional, Sequence

import torch

from bench_common import format_table
from bench_scale import DEFAULTS
from gru4recf.config import parse_cli_args
from gru4recf.experiment import build_run, load_config, load_data
from gru4recf.runtime import init_seed, keep_freed_memory, resolve_device, set_threads

PHASES = ("build batch", "zero_grad", "forward+backward", "optimizer step")


def one_batch(trainer, batch, index: int) -> None:
    """Forward and backward of one batch as Trainer.train_epoch does it (`Trainer.backward`)."""
    trainer.backward(batch, 0, index)


def time_phases(trainer, batches, count: int, autocast: Optional[str] = None) -> dict:
    """{phase: (wall ms, CPU ms) per batch} over `count` batches of the iterator `batches`, forward
    and backward under torch.autocast to the dtype `autocast` names when given."""
    totals = {phase: [0.0, 0.0] for phase in PHASES}
    clock = (time.perf_counter(), time.process_time())

    def tick(phase: str) -> None:
        nonlocal clock
        now = (time.perf_counter(), time.process_time())
        totals[phase][0] += now[0] - clock[0]
        totals[phase][1] += now[1] - clock[1]
        clock = now

    trainer.model.train()
    for index in range(count):
        batch = next(batches).to(trainer.device)
        tick("build batch")
        trainer.optimizer.zero_grad(set_to_none=True)
        tick("zero_grad")
        with torch.autocast(trainer.device.type, getattr(torch, autocast)) if autocast else contextlib.nullcontext():
            one_batch(trainer, batch, index)
        tick("forward+backward")
        trainer.optimizer.step()
        tick("optimizer step")
    return {phase: (1000 * wall / count, 1000 * cpu / count) for phase, (wall, cpu) in totals.items()}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--batches", type=int, default=40, help="batches timed phase by phase (default 40)")
    parser.add_argument("--torch_profile", type=int, default=0, help="batches under torch.profiler (default 0)")
    parser.add_argument("--autocast", choices=("bfloat16", "float16"), default=None,
                        help="forward and backward under torch.autocast to this dtype (default: float32)")
    args, rest = parser.parse_known_args(argv)
    config = load_config(config_dict=dict(DEFAULTS, **parse_cli_args(rest)))
    set_threads(config.num_threads)
    keep_freed_memory(config.keep_freed_memory)  # as a run does
    device = resolve_device(config.device)
    init_seed(config.seed, config.reproducibility)
    data = load_data(config)
    run = build_run(config, data, device)
    trainer = run.trainer
    batches = iter(run.batches.train)
    time_phases(trainer, batches, 1, args.autocast)  # warm-up
    phases = time_phases(trainer, batches, args.batches, args.autocast)
    print(f"{config.dataset}: {data.dataset.n_items - 1} items, "
          f"{sum(p.numel() for p in trainer.model.parameters())} parameters, {args.batches} batches, "
          f"{args.autocast or 'float32'}")
    rows = [("phase", "wall ms/batch", "CPU ms/batch")]
    rows += [(phase, f"{wall:.1f}", f"{cpu:.1f}") for phase, (wall, cpu) in phases.items()]
    print(format_table(rows, header=True))
    if args.torch_profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            time_phases(trainer, batches, args.torch_profile)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    return 0


if __name__ == "__main__":
    sys.exit(main())
