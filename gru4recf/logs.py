"""Run logging: readable lines on the console and in a log file per run under `log_dir`."""
import logging
import time
import uuid
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s  %(message)s"
DATE_FORMAT = "%a %d %b %Y %H:%M:%S"


def init_logging(log_dir: str, model: str, dataset: str, level: str = "INFO", run_id: str = "") -> Path:
    """(Re)configures the 'gru4recf' logger for one run and returns the run's log file path,
    `<log_dir>/<model>/<run id>.log` (a resumed run appends to its run's file)."""
    run_id = run_id or f"{model}-{dataset}-{time.strftime('%b-%d-%Y_%H-%M-%S')}-{uuid.uuid4().hex[:6]}"
    path = Path(log_dir) / model / f"{run_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("gru4recf")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(level)
    logger.propagate = False
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter("%(message)s"))
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
    for handler in (console, file_handler):
        logger.addHandler(handler)
    return path


def mute_logging() -> None:
    """For the processes of a distributed run other than rank 0: the 'gru4recf' logger writes
    nothing, so the run has one console output and one log file (rank 0's)."""
    close_logging()
    logger = logging.getLogger("gru4recf")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())


def close_logging() -> None:
    """Ends the run's logging: the log file is complete and released, and no handler stays bound
    to a stream (e.g. a captured stderr) after the run."""
    logger = logging.getLogger("gru4recf")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
