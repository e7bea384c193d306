"""Optional TensorBoard logging (`log_tensorboard`): each epoch's training loss, seconds and every
validation metric as scalars in the run's folder (`<results_dir>/<run id>/tensorboard/`), so that
`tensorboard --logdir results/` lays the runs' curves over each other. It needs the tensorboard
package: `pip install 'gru4recf[tensorboard]'`."""
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


class EpochScalars:
    """Writes a run's epoch rows as TensorBoard scalars, the epoch as the step. A resumed run
    (`resume_epoch`) first drops what the killed run wrote from that epoch on."""

    def __init__(self, folder: Path, resume_epoch: Optional[int] = None) -> None:
        from torch.utils.tensorboard import SummaryWriter
        self.writer = SummaryWriter(str(folder), purge_step=resume_epoch)

    def add_epoch(self, row: Mapping[str, Any]) -> None:
        epoch = row["epoch"]
        for key, value in row.items():
            if key not in NOT_SCALARS and isinstance(value, (int, float)):
                self.writer.add_scalar(TRAINING_SCALARS.get(key, f"valid/{key}"), value, epoch)
        self.writer.flush()  # readable by a running tensorboard, and kept after a kill

    def close(self) -> None:
        self.writer.close()
