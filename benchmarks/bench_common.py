"""What the benchmark scripts share: stage timing with RSS sampling, timing the data preparation, tables, JSON.

The scripts build their runs with `gru4recf.experiment.build_run`, exactly as `run_experiment` does.
"""
import json
import os
import resource
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Iterator, List, Optional, Sequence, Tuple

import torch

from gru4recf.atomic_write import atomic_write_text
from gru4recf.config import Config
from gru4recf.distributed import SINGLE_PROCESS, DistributedContext
from gru4recf.experiment import Batches, LoadedData, load_data, make_batches, run_mode

MIB = 1024 * 1024


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    """VmRSS from /proc/self/status (0 where /proc is missing)."""
    try:
        with open("/proc/self/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Stage:
    """One timed stage: wall seconds, this process's CPU seconds (user + system, all threads; on a
    shared machine wall > CPU shows the time lost waiting for a core), RSS at its start and end,
    and the largest RSS sampled during it."""

    name: str
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    rss_start_mib: float = 0.0
    rss_end_mib: float = 0.0
    rss_max_mib: float = 0.0


@dataclass
class StageRecorder:
    """Times stages while a background thread samples VmRSS every `interval` seconds.

    The sampler only sees what lasts longer than `interval`; ru_maxrss (`peak_rss_mib`) catches
    the true peak of the whole process."""

    interval: float = 0.01
    stages: List[Stage] = field(default_factory=list)
    _current: Optional[Stage] = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            stage = self._current
            if stage is not None:
                stage.rss_max_mib = max(stage.rss_max_mib, current_rss_mib())

    @contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        rss = current_rss_mib()
        stage = Stage(name, rss_start_mib=rss, rss_max_mib=rss)
        self.stages.append(stage)
        self._current = stage
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            yield stage
        finally:
            stage.seconds = time.perf_counter() - start
            stage.cpu_seconds = time.process_time() - cpu_start
            stage.rss_end_mib = current_rss_mib()
            stage.rss_max_mib = max(stage.rss_max_mib, stage.rss_end_mib)
            self._current = None

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def as_dicts(self) -> list:
        return [asdict(stage) for stage in self.stages]

    def table(self) -> str:
        rows = [("stage", "wall s", "CPU s", "RSS start MiB", "RSS end MiB", "max sampled RSS MiB")]
        rows += [(s.name, f"{s.seconds:.2f}", f"{s.cpu_seconds:.2f}", f"{s.rss_start_mib:.0f}", f"{s.rss_end_mib:.0f}",
                  f"{s.rss_max_mib:.0f}") for s in self.stages]
        return format_table(rows, header=True)


def format_table(rows: Sequence[Sequence], header: bool = False, numeric: bool = True) -> str:
    """Plain-text columns; the first column left-aligned, the others right-aligned when `numeric`."""
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        rest = [cell.rjust(width) if numeric else cell.ljust(width) for cell, width in zip(row[1:], widths[1:])]
        cells = [row[0].ljust(widths[0])] + rest
        lines.append("  ".join(cells).rstrip())
        if header and index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def write_json(path: str, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def prepare_data(config: Config, distributed: DistributedContext = SINGLE_PROCESS) -> Tuple[LoadedData, Batches]:
    """A run's data preparation, to be timed: `load_data`, then `make_batches` for the run's mode
    (pass the batches to `build_run`)."""
    data = load_data(config, distributed)
    return data, make_batches(config, data, run_mode(config), distributed)


def environment() -> dict:
    """What a reader needs to compare figures: threads, CPUs, load, versions."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {"torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "load_average_1min": load, "torch": torch.__version__}
