"""Process-level settings of a run: seeds, CPU threads and the device."""
import os
import random
from typing import Optional

import numpy as np
import torch


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


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
