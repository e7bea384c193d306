"""Seconds per training epoch with 1, 2, ... processes (data-parallel under torchrun).

    python benchmarks/bench_ddp.py --procs=1,2 --data_path=../shared/datasets --dataset=ml-100k \
        --train_mode=sequence --num_threads=1 [--max_batches=N] [--evaluate] [--json_out=FILE] [--key=value ...]

For each process count N this starts `python -m torch.distributed.run --nproc_per_node=N` on this
script in worker mode (gloo on 127.0.0.1, a free port); every process prepares the data (timed),
builds the run as `run_experiment` does (`gru4recf.experiment.build_run`), and trains one epoch
(or its first --max_batches global batches, the epoch then extrapolated by batch count); with
--evaluate it also runs the sharded full-ranking validation. A process's figures: wall and CPU
seconds; the table shows the slowest process (every step waits for it) and each process's CPU
seconds. N = 1 is the plain single-process run (torchrun with one process joins no process group).

Defaults (any config key overrides them): train_mode=sequence, show_progress=False. The global
batch is train_batch_size whatever N is, so every N takes the same number of optimiser steps.
"""
import argparse
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Sequence

import torch

from bench_common import environment, format_table, prepare_data, write_json
from gru4recf.config import parse_cli_args
from gru4recf.distributed import distributed_run
from gru4recf.experiment import build_run, load_config
from gru4recf.runtime import init_seed, resolve_device, set_threads

DEFAULTS = {"train_mode": "sequence", "show_progress": False}
FIGURES = ("prep_seconds", "prep_cpu_seconds", "epoch_seconds", "epoch_cpu_seconds", "eval_seconds")


def _timed(function):
    """(result, wall seconds, CPU seconds of this process) of `function()`."""
    start, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - start, time.process_time() - cpu


def worker(overrides: dict, max_batches: int, evaluate: bool, out_file: str) -> None:
    """One process of an N-process measurement; rank 0 writes every process's figures to `out_file`."""
    config = load_config(config_dict=overrides)
    with distributed_run(config.ddp_backend, resolve_device(config.device)) as (distributed, device):
        set_threads(config.num_threads)
        init_seed(config.seed, config.reproducibility)
        distributed.barrier()
        (data, batches), prep, prep_cpu = _timed(lambda: prepare_data(config, distributed))
        run = build_run(config, data, device, distributed=distributed, batches=batches)
        train = run.batches.train
        total = len(train)
        measured = min(max_batches, total) if max_batches > 0 else total
        train.set_epoch(0)
        distributed.barrier()
        loss, epoch, epoch_cpu = _timed(lambda: run.trainer.train_epoch(itertools.islice(iter(train), measured), 0))
        result, eval_seconds = {}, 0.0
        if evaluate:
            distributed.barrier()
            result, eval_seconds, _ = _timed(lambda: run.evaluator.evaluate(run.model, run.batches.valid))
        scale = total / max(measured, 1)
        mine = torch.zeros(distributed.world_size, len(FIGURES), dtype=torch.float64)
        mine[distributed.rank] = torch.tensor([prep, prep_cpu, epoch * scale, epoch_cpu * scale, eval_seconds])
        every = distributed.sum(mine)  # row r: process r's figures
        if distributed.is_main:
            write_json(out_file, {
                "dataset": config.dataset, "train_mode": config.train_mode, "processes": distributed.world_size,
                "batches_per_epoch": total, "batches_measured": measured, "train_batch_size": config.train_batch_size,
                "train_loss_measured": loss, "eval_result": dict(result), "environment": environment(),
                "per_process": [dict(zip(FIGURES, row.tolist())) for row in every]})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(procs: int, argv: Sequence[str], timeout: Optional[float] = None) -> dict:
    """Runs the worker with `procs` processes and returns rank 0's figures."""
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "figures.json")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                            os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
        command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={procs}",
                   "--master_addr=127.0.0.1", f"--master_port={_free_port()}", __file__, "--worker",
                   f"--worker_out={out}", *argv]
        subprocess.run(command, env=env, check=True, timeout=timeout)
        with open(out, encoding="utf-8") as handle:
            return json.load(handle)


def table(runs: List[dict]) -> str:
    rows = [("processes", "prep s", "s/epoch", "CPU s/epoch per process", "valid eval s", "batches")]
    for run in runs:
        each = run["per_process"]
        slowest = lambda key: max(p[key] for p in each)
        measured = (f"{run['batches_measured']} of {run['batches_per_epoch']} (~)"
                    if run["batches_measured"] < run["batches_per_epoch"] else f"{run['batches_per_epoch']}")
        rows.append((run["processes"], f"{slowest('prep_seconds'):.2f}", f"{slowest('epoch_seconds'):.1f}",
                     " / ".join(f"{p['epoch_cpu_seconds']:.1f}" for p in each),
                     f"{slowest('eval_seconds'):.2f}" if slowest("eval_seconds") else "-", measured))
    head = runs[0]
    note = (f"{head['dataset']}, train_mode={head['train_mode']}, global train_batch_size={head['train_batch_size']}; "
            f"'~': epoch extrapolated from the first batches; s = the slowest process's wall seconds")
    return format_table(rows, header=True) + "\n" + note


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--procs", default="1,2", help="process counts to measure, e.g. 1,2 (default)")
    parser.add_argument("--max_batches", type=int, default=0,
                        help="time only the first N global batches and extrapolate the epoch (0 = whole epoch)")
    parser.add_argument("--evaluate", action="store_true", help="also time the sharded full-ranking validation")
    parser.add_argument("--json_out", help="also write every figure to this JSON file (atomically)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker_out", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    overrides = dict(DEFAULTS, **parse_cli_args(rest))
    if args.worker:
        worker(overrides, args.max_batches, args.evaluate, args.worker_out)
        return 0
    passed = [f"--max_batches={args.max_batches}"] + (["--evaluate"] if args.evaluate else []) + list(rest)
    runs = [launch(int(procs), passed) for procs in args.procs.split(",")]
    print(table(runs))
    if args.json_out:
        write_json(args.json_out, {"runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
