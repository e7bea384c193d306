"""Run logging: readable lines on the console and in the run's log file."""
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from .atomic_write import check_writable
from .errors import OutputError

FORMAT = "%(asctime)s %(levelname)s  %(message)s"
DATE_FORMAT = "%a %d %b %Y %H:%M:%S"
FILE_ONLY = {"file_only": True}  # `logger.info(text, extra=FILE_ONLY)`: the log file, not the console


def log_outcome(logger: logging.Logger, text: str) -> None:
    """Logs a line of the run's outcome (its results, its closing summary): at INFO, or at the
    logger's level when `state` asks for less, so that a quiet run still shows what it found."""
    logger.log(max(logging.INFO, logger.getEffectiveLevel()), text)


class Console(logging.StreamHandler):
    """The console (stderr): lines print above an active progress bar instead of through it, and
    records marked FILE_ONLY (the full configuration) are left to the log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False) and super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # logging's own convention: a failing handler reports, never raises
            self.handleError(record)


class LogFile(logging.FileHandler):
    """The run's log file. When it cannot be written (a disk that fills), it says so once on stderr
    and stops writing, instead of logging's traceback for every later record; the run goes on."""

    failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        self._report(sys.exc_info()[1])

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as error:
            self._report(error)

    def close(self) -> None:
        try:
            super().close()
        except OSError as error:  # the last buffered lines did not fit either
            self._report(error)

    def _report(self, error: BaseException) -> None:
        if not self.failed:
            self.failed = True
            detail = getattr(error, "strerror", None) or error
            sys.stderr.write(f"gru4recf: warning: cannot write the log file {self.baseFilename} ({detail}); "
                             "the run goes on, logging to the console only\n")


def init_logging(path: Path, setting: str = "log_dir", level: str = "INFO") -> Path:
    """(Re)configures the 'gru4recf' logger for one run, writing to the console and to the log file
    `path` (appended to: a resumed run continues its run's file), and returns `path`. A folder that
    cannot be written is an OutputError naming `setting`, the key that chose it."""
    path = check_writable(Path(path).parent, setting) / Path(path).name
    logger = logging.getLogger("gru4recf")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(level)
    logger.propagate = False
    console = Console()
    console.setFormatter(logging.Formatter("%(message)s"))
    try:
        file_handler = LogFile(path, encoding="utf-8")
    except OSError as error:
        raise OutputError(f"{setting} {path.parent}: cannot open the log file {path}: "
                          f"{error.strerror or error}") from None
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
