"""How torch's OpenMP threads wait, chosen by the command lines before torch is imported.

OpenMP reads its environment once, when torch loads it, so this must run before `import torch`;
it imports nothing itself.
"""
import os

WAIT_POLICY = "OMP_WAIT_POLICY"


def prefer_passive_waiting() -> None:
    """Idle OpenMP threads sleep instead of spinning, unless the user set OMP_WAIT_POLICY.

    Spinning threads fight any other CPU-bound job for the cores: measured on 2 cores beside one
    busy process, a 2-thread GRU4RecF run took more than 420 s instead of 157 s alone; with passive
    waiting it took 204 s, as fast as 1 thread, and 157 s alone (docs/results.md#threads)."""
    os.environ.setdefault(WAIT_POLICY, "PASSIVE")
