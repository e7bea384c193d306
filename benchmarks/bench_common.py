"""What the benchmark scripts share: stage timing with RSS sampling, timing the data preparation, tables, JSON,
and whole `run.py` runs in a child process (wall and CPU seconds, peak RSS, the figures of its results folder).

The in-process scripts build their runs with `gru4recf.experiment.build_run`, exactly as `run_experiment` does.
"""
import json
import os
import resource
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import torch
import yaml

from gru4recf.atomic_write import atomic_write_text
from gru4recf.config import Config
from gru4recf.distributed import SINGLE_PROCESS, DistributedContext
from gru4recf.experiment import Batches, LoadedData, load_data, make_batches, run_mode
from gru4recf.training.results import CONFIG_FILE, RESULTS_FILE, read_epochs

MIB = 1024 * 1024
METRICS = ("mrr@10", "ndcg@10", "recall@10")  # what the run benchmarks read from a results folder


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


def environment(run_threads: Optional[int] = None) -> dict:
    """What a reader needs to compare figures: threads, CPUs, load, versions. `run_threads`: the
    torch threads of the child processes that were measured, where they are not this process's."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    threads = torch.get_num_threads() if run_threads is None else run_threads
    return {"torch_threads": threads, "cpus": os.cpu_count(),
            "load_average_1min": load, "torch": torch.__version__}


def fmt(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def machine_cpu() -> Tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat ((0, 0) without it)."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(value) for value in handle.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / hz, steal / hz


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_1min() -> Optional[float]:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


@dataclass
class Child:
    """A finished child process: its exit status ("timeout" when it was killed for running past its
    limit), wall seconds, CPU seconds (user + system, with the children it waited for), peak
    resident set size (its own ru_maxrss) and its console output (stdout and stderr together)."""

    returncode: Union[int, str]
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    output: str


def run_child(command: Sequence[str], cwd: Path, env: dict, timeout: Optional[float] = None,
              poll_seconds: float = 0.05) -> Child:
    """Runs `command` and reaps it with os.wait4, which gives this child's own rusage (its peak RSS
    too, which RUSAGE_CHILDREN deltas cannot: that is the largest of all children so far). Past
    `timeout` seconds the child is killed (SIGKILL)."""
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        process = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        deadline = None if timeout is None else start + timeout
        killed = False
        while True:
            blocking = deadline is None or killed
            pid, status, usage = os.wait4(process.pid, 0 if blocking else os.WNOHANG)
            if pid:
                break
            if time.perf_counter() >= deadline:
                os.kill(process.pid, signal.SIGKILL)  # not yet reaped: the pid is still this child's
                killed = True
            else:
                time.sleep(min(poll_seconds, max(deadline - time.perf_counter(), 0.0)))
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        output.seek(0)
        text = output.read().decode("utf-8", errors="replace")
    return Child("timeout" if killed else process.returncode, wall, usage.ru_utime + usage.ru_stime,
                 usage.ru_maxrss / 1024, text)  # Linux reports ru_maxrss in KiB


def child_row(model: str, mode: str, seed: int, child: Child, load_start: Optional[float], settings: dict,
              command: str, measured: dict, **extra) -> dict:
    """A zoo row of one run in a child process: the child's exit status, wall and CPU seconds and
    peak RSS, the median of the `measured` epochs' training seconds, the load around it, then
    `extra` and `measured` itself (its epochs and metrics); the child's last output if it failed."""
    seconds = [epoch["train_seconds"] for epoch in measured["epochs"]]
    row = {"model": model, "mode": mode, "seed": seed, "returncode": child.returncode,
           "wall_seconds": round(child.wall_seconds, 2), "cpu_seconds": round(child.cpu_seconds, 2),
           "peak_rss_mib": round(child.peak_rss_mib, 1),
           "epoch_seconds_median": round(statistics.median(seconds), 3) if seconds else None,
           "load_1min_start": load_start, "load_1min_end": load_1min(), "settings": settings, "command": command,
           **extra, **measured}
    if child.returncode != 0:
        row["error_tail"] = child.output[-2000:]
    return row


def read_run(results_dir: Path, metrics: Sequence[str] = METRICS) -> dict:
    """Epochs, the validation curve, best epoch and the final results (`metrics` of them) from the
    run's results folder (its epochs.jsonl and results.json); a killed run has its finished epochs
    only (none when it was killed before it wrote its config.yaml, which comes before any epoch)."""
    folders = sorted(f for f in results_dir.glob("*/") if (f / CONFIG_FILE).is_file()) if results_dir.is_dir() else []
    if not folders:
        return {"epochs_run": 0, "best_epoch": None, "stopped_early": False, "epochs": [], "fit_seconds": None,
                **{f"{split}_{k}": None for split in ("valid", "test") for k in metrics}}
    epochs = read_epochs(folders[0])
    final = json.loads((folders[0] / RESULTS_FILE).read_text()) if (folders[0] / RESULTS_FILE).is_file() else {}
    valid, test = final.get("best_valid_result", {}), final.get("test_result", {})
    best_epoch = final.get("best_epoch", epochs[-1]["best_epoch"] if epochs else None)
    settings = yaml.safe_load((folders[0] / CONFIG_FILE).read_text())
    stopped = bool(final) and len(epochs) < settings["epochs"]
    return {"epochs_run": len(epochs), "best_epoch": best_epoch, "stopped_early": stopped,
            "fit_seconds": final.get("fit_seconds"),
            **{f"valid_{k}": valid.get(k) for k in metrics}, **{f"test_{k}": test.get(k) for k in metrics},
            "epochs": [epoch_row(row, settings["valid_metric"].lower()) for row in epochs]}


def epoch_row(row: dict, valid_metric: str) -> dict:
    """An epochs.jsonl row as the run benchmarks keep it (valid_score: the early-stopping metric)."""
    kept = {"epoch": row["epoch"], "train_seconds": row["train_seconds"], "train_loss": row["train_loss"]}
    if valid_metric in row:
        kept.update(valid_score=row[valid_metric], valid_seconds=round(row["seconds"] - row["train_seconds"], 3))
    return dict(kept, **{f"valid_{k}": v for k, v in row.items() if "@" in k})
