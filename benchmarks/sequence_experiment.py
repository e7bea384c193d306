"""What the sequence-mode experiments (mask_groups.py, clustered_batches.py) share: `python run.py`
with every `sequence` training mode replaced by a variant of it, and a positive-integer option."""
import argparse
from typing import Callable, List, Optional

from gru4recf import experiment
from gru4recf.cli import main
from gru4recf.training import modes


def run_with(argv: List[str], variant: Callable[[modes.SequenceMode], modes.SequenceMode]) -> Optional[int]:
    """`python run.py` on `argv`, with each SequenceMode the run builds passed through `variant`
    (other modes are left as they are)."""
    plain = experiment.train_mode

    def replaced(*args, **kwargs):
        mode = plain(*args, **kwargs)
        return variant(mode) if isinstance(mode, modes.SequenceMode) else mode

    experiment.train_mode = replaced
    return main(argv)


def positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"an integer >= 1 expected, found {text!r}")
    return int(text)
