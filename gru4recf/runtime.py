"""Process-level settings of a run: which model and how it runs (seeds, CPU threads, device,
logging, where files go; see `run_paths`)."""
import ctypes
import os
import random
import sys
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .config import checks as c
from .config.settings import Settings, setting


@dataclass(frozen=True)
class RuntimeSettings(Settings):
    """The run's general keys (RecBole's names)."""

    title = "General"
    model: str = setting("GRU4RecF", c.text, "Model name: one of the registry (see docs/models.md).")
    seed: int = setting(2020, c.integer(0), "Random seed for python, numpy and torch.")
    reproducibility: bool = setting(True, c.boolean, "Deterministic kernels (cuDNN) for repeatable results.")
    device: str = setting("auto", c.device, "'auto' (GPU when available), 'cpu', 'cuda' or 'cuda:N'.",
                          affects_results=False)
    num_threads: Optional[int] = setting(
        None, c.optional(c.integer(1)),
        "Torch CPU threads; None = OMP_NUM_THREADS if set, else the CPUs this process may use.", affects_results=False)
    state: str = setting("INFO", c.one_of(["DEBUG", "INFO", "WARNING", "ERROR"]),
                         "Logging level (RecBole calls it `state`); the final results and the closing summary are shown "
                         "at any level.", affects_results=False)
    show_progress: bool = setting(True, c.boolean, "Show tqdm progress bars for training and evaluation.",
                                  affects_results=False)
    results_dir: str = setting(
        "results/", c.text, "Folder of the runs: each run's files lie in <results_dir>/<run id>/ (its log, config.yaml, "
        "epochs.jsonl, results.json and the checkpoints <run id>.pth and <run id>.last.pth).", affects_results=False)
    log_dir: Optional[str] = setting(
        None, c.optional(c.text), "Where the log file goes instead of the run's folder: <log_dir>/<model>/<run id>.log.",
        affects_results=False)
    checkpoint_dir: Optional[str] = setting(
        None, c.optional(c.text), "Where the checkpoints go instead of the run's folder: <checkpoint_dir>/<run id>.pth "
        "(best model) and <run id>.last.pth (for --resume).", affects_results=False)
    log_tensorboard: bool = setting(
        False, c.boolean, "Also write each epoch's training loss and validation metrics as TensorBoard scalars in "
        "<results_dir>/<run id>/tensorboard/ (runs with `saved`; needs pip install 'gru4recf[tensorboard]').",
        affects_results=False)
    keep_freed_memory: bool = setting(
        True, c.boolean, "Linux (glibc): the memory a batch's tensors free is kept for the next batch instead of being "
        "handed back to the system and faulted in again (1.6x faster BERT4Rec batches on CPU); the process keeps its "
        "peak memory until it exits.", affects_results=False)
    ddp_backend: str = setting(
        "auto", c.one_of(["auto", "gloo", "nccl"]),
        "torch.distributed backend under torchrun: 'auto' = nccl on GPUs, gloo on CPUs; unused in one process.",
        affects_results=False)


def init_seed(seed: int, reproducibility: bool) -> None:
    """Seeds python, numpy and torch; with `reproducibility`, asks cuDNN for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.benchmark = not reproducibility
    torch.backends.cudnn.deterministic = reproducibility


def default_threads() -> int:
    """OMP_NUM_THREADS when set, else the CPUs this process may run on (not the machine's total,
    which oversubscribes containers and taskset-limited jobs)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def set_threads(num_threads: Optional[int]) -> int:
    """Sets torch's intra-op thread count (None = `default_threads()`); returns the count used."""
    count = num_threads or default_threads()
    torch.set_num_threads(count)
    return count


M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4  # glibc's mallopt parameters (malloc.h)
TOP_PAD_BYTES = 256 * 1024 * 1024


def keep_freed_memory(enabled: bool) -> bool:
    """With glibc, asks malloc to keep freed memory for reuse: large blocks come from the heap, not
    from a mapping of their own, and the heap's free top is never trimmed. Torch has no caching
    allocator on the CPU, so otherwise every batch maps, faults in and unmaps its large
    activations again (for BERT4Rec's default batch that was a third of its time, in the kernel).
    Process-wide and not undone; returns whether it took effect (False off glibc)."""
    if not enabled or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # another C library (musl): nothing to set
        return False
    settings = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, -1), (M_TOP_PAD, TOP_PAD_BYTES))  # -1: never trim (mallopt(3))
    return all(mallopt(parameter, value) == 1 for parameter, value in settings)


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
