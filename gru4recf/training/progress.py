"""One progress bar for a whole run, counted in epochs, with an ETA from the epochs so far."""
from typing import Optional

from tqdm import tqdm


class RunBar:
    """Advances with every training batch (an epoch of n batches moves it by 1/n). Its total is the
    last epoch early stopping still allows (the best epoch plus the patience, at most `epochs`), so
    its ETA is the longest the run can still take and shrinks as the run stops improving. The
    per-epoch log lines print above it (see `logs`)."""

    def __init__(self, name: str, epochs: int, first_epoch: int, enabled: bool) -> None:
        self.epochs = epochs
        self.bar: Optional[tqdm] = None
        if enabled:
            self.bar = tqdm(total=epochs, initial=first_epoch, desc=name, unit="epoch", dynamic_ncols=True,
                            bar_format="{desc} {percentage:3.0f}%|{bar}| epoch {n:.1f} of at most {total} "
                                       "[{elapsed}<{remaining}]")

    def advance(self, fraction: float) -> None:
        """Part of an epoch was trained."""
        if self.bar is not None:
            self.bar.update(fraction)

    def end_epoch(self, finished_epochs: int, last_allowed: int) -> None:
        """`finished_epochs` are done (float rounding of the batch steps set right); at most
        `last_allowed` epochs will run."""
        if self.bar is not None:
            self.bar.total = max(finished_epochs, min(self.epochs, last_allowed))
            self.bar.n = finished_epochs
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
