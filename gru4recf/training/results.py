"""The results folder of a run: what a person loads to look at it (`<results_dir>/<run id>/`).

- `config.yaml`: the resolved configuration (every key, as the run used it);
- `epochs.jsonl`: one JSON row per epoch (epoch, train loss, seconds, every validation metric,
  the best epoch so far), rewritten atomically after every epoch, so after a kill it holds every
  finished epoch and nothing half-written;
- `results.json`: the best validation result, the test result, the best epoch, the total seconds
  and where the log file and checkpoints are;
- with `log_tensorboard`, `tensorboard/`: the epoch rows as TensorBoard scalars (`training.tensorboard`).

A resumed run writes into the folder of the run it continues; rows of epochs it trains again are
replaced.
"""
import json
from pathlib import Path
from typing import Any, List, Mapping, Optional

import yaml

from ..atomic_write import atomic_write_text, check_writable, remove_stale_temporaries
from ..errors import OutputError
from .tensorboard import FOLDER as TENSORBOARD_FOLDER, EpochScalars

CONFIG_FILE, EPOCHS_FILE, RESULTS_FILE = "config.yaml", "epochs.jsonl", "results.json"


def read_epochs(folder: Path) -> List[dict]:
    """The rows of `epochs.jsonl` in `folder` (none when there is no such file)."""
    path = Path(folder) / EPOCHS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class RunResults:
    """Writes one run's results folder; `resume_epoch`: the epoch a resumed run continues at (rows
    from it on are dropped, the earlier ones kept); `tensorboard`: also write the rows as
    TensorBoard scalars."""

    def __init__(self, folder: Path, resume_epoch: Optional[int] = None, tensorboard: bool = False) -> None:
        self.folder = check_writable(folder, "results_dir")
        for name in (CONFIG_FILE, EPOCHS_FILE, RESULTS_FILE):  # left by a killed write of this run
            remove_stale_temporaries(self.folder / name)
        self.rows = [row for row in read_epochs(self.folder) if row["epoch"] < resume_epoch] \
            if resume_epoch is not None else []
        self.scalars = EpochScalars(check_writable(self.folder / TENSORBOARD_FOLDER, "results_dir"),
                                    resume_epoch) if tensorboard else None

    def write_config(self, values: Mapping[str, Any]) -> None:
        text = yaml.safe_dump(json.loads(json.dumps(dict(values), default=str)), sort_keys=False,
                              allow_unicode=True)
        self._write(CONFIG_FILE, text)

    def add_epoch(self, row: Mapping[str, Any]) -> None:
        self.rows.append(dict(row))
        self._write(EPOCHS_FILE, "".join(json.dumps(r) + "\n" for r in self.rows))
        if self.scalars is not None:
            self.scalars.add_epoch(row)

    def write_results(self, results: Mapping[str, Any]) -> None:
        """The run's last write: its results, after which the TensorBoard file is closed."""
        self._write(RESULTS_FILE, json.dumps(dict(results), indent=2, default=str) + "\n")
        if self.scalars is not None:
            self.scalars.close()

    def _write(self, name: str, text: str) -> None:
        """Atomically; a failure (a full disk) is an OutputError, and the previous file stays whole."""
        try:
            atomic_write_text(self.folder / name, text)
        except OSError as error:
            raise OutputError(f"cannot write results file {self.folder / name}: {error.strerror or error}; "
                              "what the run wrote before is unchanged") from None
