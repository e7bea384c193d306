"""Experiment, not a library feature: train_mode 'sequence' with each training row repeated G times,
each copy drawing its own dropout masks and keeping every G-th target (step t goes to copy t % G).
It tests whether SASRec's `sequence` mode falls short of `augment` because a row's targets share one
mask (docs/results.md, "Quality", SASRec): G copies cost G passes and the same output layer, and
without dropout they give exactly the loss of G = 1.

    python benchmarks/mask_groups.py --groups=4 --model=SASRec --train_mode=sequence --epochs=8 --seed=2020 \\
        --num_threads=1 --data_path=../shared/datasets

Every argument but --groups goes to `python run.py` (the results folder and the printed metrics are
run.py's).
"""
import argparse
import sys
from dataclasses import replace

import torch

from gru4recf.data.sequence_batches import SequenceBatch
from gru4recf.training import modes

from sequence_experiment import positive, run_with


def replicate(batch: SequenceBatch, groups: int) -> SequenceBatch:
    """Each row `groups` times in a row (so still longest first); copy g keeps the targets of the
    steps t with t % groups == g, so every target is counted once."""
    rows = torch.arange(len(batch.inputs)).repeat_interleave(groups)
    copy = torch.arange(groups).repeat(len(batch.inputs))
    keep = (torch.arange(batch.inputs.shape[1]).unsqueeze(0) % groups) == copy.unsqueeze(1)  # [B * G, T]
    copies = batch.rows(rows, batch.inputs.shape[1])
    return replace(copies, targets=copies.targets * keep)


class GroupedSequenceMode(modes.SequenceMode):
    """SequenceMode on each batch's rows repeated `groups` times (see `replicate`)."""

    def __init__(self, mode: modes.SequenceMode, groups: int) -> None:
        super().__init__(mode.segment_length, mode.warmup, mode.chunk_length)
        self.groups = groups

    def backward(self, model, runner, batch, check):
        return super().backward(model, runner, replicate(batch, self.groups), check)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="train_mode 'sequence' with G dropout-mask groups per row")
    parser.add_argument("--groups", type=positive, required=True, help="copies of each row (G)")
    args, rest = parser.parse_known_args()
    sys.exit(run_with(rest, lambda mode: GroupedSequenceMode(mode, args.groups)))
