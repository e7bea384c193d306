"""Optional TensorBoard logging (`log_tensorboard`): each epoch's training loss, seconds and every
validation metric as scalars in the run's folder (`<results_dir>/<run id>/tensorboard/`), so that
`tensorboard --logdir results/` lays the runs' curves over each other. It needs the tensorboard
package: `pip install 'gru4recf[tensorboard]'`."""
import time
from pathlib import Path
from typing import Any, Mapping, Optional

from ..errors import ConfigError

FOLDER = "tensorboard"
TRAINING_SCALARS = {"train_loss": "train/loss", "train_seconds": "train/seconds", "seconds": "epoch/seconds"}
NOT_SCALARS = {"epoch", "best_epoch"}


def require_tensorboard() -> None:
    """A ConfigError naming the extra to install when `log_tensorboard` is on without tensorboard;
    checked before any work."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise ConfigError("log_tensorboard is True but the tensorboard package is not installed: "
                          "pip install 'gru4recf[tensorboard]'") from None


def sort_after_existing(folder: Path) -> None:
    """Waits, if need be, until a new event file's name sorts after every one in `folder`.
    TensorBoard reads a folder's files in name order, and a name begins with the second it was
    created in, then the host and process id: a resume within the second the killed run started
    (a toy run) could otherwise be read before it, its purge and epochs out of order."""
    created = [path.name.split(".")[3] for path in folder.glob("events.out.tfevents.*.*")]  # [3]: the second
    seconds = [int(second) for second in created if second.isdigit()]
    wait = max(seconds, default=0) + 1 - time.time()
    if wait > 0:
        time.sleep(wait)


class EpochScalars:
    """Writes a run's epoch rows as TensorBoard scalars, the epoch as the step. A resumed run
    (`resume_epoch`) first drops what the killed run wrote from that epoch on."""

    def __init__(self, folder: Path, resume_epoch: Optional[int] = None) -> None:
        from torch.utils.tensorboard import SummaryWriter
        if resume_epoch is not None:
            sort_after_existing(Path(folder))
        self.writer = SummaryWriter(str(folder), purge_step=resume_epoch)

    def add_epoch(self, row: Mapping[str, Any]) -> None:
        epoch = row["epoch"]
        for key, value in row.items():
            if key not in NOT_SCALARS and isinstance(value, (int, float)):
                self.writer.add_scalar(TRAINING_SCALARS.get(key, f"valid/{key}"), value, epoch)
        self.writer.flush()  # readable by a running tensorboard, and kept after a kill

    def close(self) -> None:
        self.writer.close()
