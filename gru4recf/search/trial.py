"""One trial: the fixed settings plus the trial's parameters, trained and scored on validation.

Used alike by the single-process search and by worker processes. A trial never raises (except
on Ctrl-C): whatever goes wrong is returned as a failed row with its error, and the traceback goes
to the trial's log file.
"""
import logging
import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from ..errors import TrainingError
from .results import make_row

logger = logging.getLogger("gru4recf")


@dataclass(frozen=True)
class TrialTask:
    """Everything a (possibly remote) process needs to run trial `tid`."""

    tid: int
    params: Dict[str, Any]
    model: str
    dataset: str
    config_file_list: Tuple[str, ...]
    fixed: Dict[str, Any] = field(default_factory=dict)  # config_dict with the command line over it
    num_threads: int = 1
    search_id: str = ""
    log_folder: str = ""  # the search's folder of trial logs; `log_dir`, when set, wins

    def config(self):
        """The trial's validated config; its parameters override every fixed layer."""
        from ..experiment import load_config

        overrides = {**self.fixed, **self.params, "num_threads": self.num_threads, "show_progress": False}
        return load_config(self.params.get("model", self.model), self.params.get("dataset", self.dataset),
                           list(self.config_file_list), overrides)


class DataCache:
    """Loaded datasets by `data_key`: trials whose parameters do not change the data share one load."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self.entries: "OrderedDict[Any, Any]" = OrderedDict()

    def get(self, config):
        """The LoadedData of `config`, loaded once for every config with the same data settings."""
        from .. import experiment

        key = experiment.data_key(config)
        if key in self.entries:
            self.entries.move_to_end(key)
            logger.info("reusing the dataset loaded by an earlier trial")
            return self.entries[key]
        data = experiment.load_data(config)
        self.entries[key] = data
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return data


def _quiet_console() -> None:
    """Training logs go to the trial's log file only; the console shows the search's progress."""
    for handler in list(logger.handlers):
        if not isinstance(handler, logging.FileHandler):
            logger.removeHandler(handler)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or repr(error)
    text = f"{type(error).__name__}: {text}"
    return text if len(text) <= 500 else text[:497] + "..."


def run_trial(task: TrialTask, cache: DataCache,
              on_validation: Optional[Callable[[int, float, dict], None]] = None) -> dict:
    """Trains one trial and returns its results row (status 'ok' or 'failed'); `on_validation`
    hears every validation of its training (see `Trainer`)."""
    from .. import experiment
    from ..logs import close_logging, init_logging

    start = time.time()
    log_file: Optional[str] = None
    valid_metric = "?"
    try:
        config = task.config()
        valid_metric = config.valid_metric
        paths = experiment.run_paths_of(config)
        if config.log_dir or not task.log_folder:
            log_file = str(init_logging(paths.log_file, paths.log_setting, config.state))
        else:
            log_path = Path(task.log_folder) / f"{paths.run_id}.log"
            log_file = str(init_logging(log_path, "output_file's folder", config.state))
        _quiet_console()
        logger.info(f"hyper-parameter search trial {task.tid}: {task.params}")
        result = experiment.run_experiment(config, saved=False, data=cache.get(config), on_validation=on_validation)
        score = float(result["best_valid_score"])
        if not math.isfinite(score):
            raise TrainingError(f"the validation score {config.valid_metric} is {score}")
        return make_row(task.tid, task.params, "ok", time.time() - start, task.search_id, valid_metric,
                        result, log_file=log_file)
    except Exception as error:  # a failed trial is a result; the search goes on
        if log_file is not None:
            logger.exception(f"trial {task.tid} failed")
        return make_row(task.tid, task.params, "failed", time.time() - start, task.search_id, valid_metric,
                        error=_one_line(error), log_file=log_file)
    finally:
        close_logging()


_worker_cache: Optional[DataCache] = None


def init_worker(num_threads: int) -> None:
    """Worker process start: cap its thread pools before torch is imported, start an empty cache."""
    global _worker_cache
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(num_threads)
    _worker_cache = DataCache()


def run_trial_in_worker(task: TrialTask) -> dict:
    """`run_trial` with the worker's own data cache (each worker loads a dataset once)."""
    global _worker_cache
    if _worker_cache is None:
        _worker_cache = DataCache()
    return run_trial(task, _worker_cache)
