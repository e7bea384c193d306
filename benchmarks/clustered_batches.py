"""Experiment, not a library feature: train_mode 'sequence' whose batches hold runs of consecutive
segments of one user instead of segments shuffled one by one. With `--segment_length=1
--warmup_length=49` every row is exactly the `augment` example of its target (its own pass and its
own dropout masks), and `--block=25` gathers them as the default SASRec `sequence` mode gathers its
targets: 25 consecutive targets of a user, about 82 users in a batch of 2,048 targets. It tests
whether SASRec's `sequence` mode falls short of `augment` because of what a batch holds (docs/results.md,
"Quality", SASRec) rather than because a row's targets share one pass.

    python benchmarks/clustered_batches.py --block=25 --model=SASRec --train_mode=sequence \\
        --segment_length=1 --warmup_length=49 --epochs=8 --seed=2020 --num_threads=1 --data_path=../shared/datasets

Every argument but --block goes to `python run.py` (the results folder and the printed metrics are
run.py's).
"""
import argparse
import sys

import numpy as np

from gru4recf.data.sequence_batches import SequenceBatches, segments, user_runs
from gru4recf.training import modes

from sequence_experiment import positive, run_with


def blocks_of(run: np.ndarray, block: int) -> np.ndarray:
    """Block number [S] of each segment, from the run [S] each comes from (segments of a run are
    consecutive and in order, as `segments` lists them): each run cut into blocks of `block`."""
    first = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])  # each run's first segment
    index = np.arange(len(run)) - np.repeat(first, np.diff(np.r_[first, len(run)]))  # segment j of its run
    key = run.astype(np.int64) * (int(index.max()) // block + 1) + index // block
    return np.unique(key, return_inverse=True)[1].reshape(-1)


class ClusteredBatches(SequenceBatches):
    """SequenceBatches shuffling blocks of `block` consecutive segments of a run, kept in order."""

    def __init__(self, items, examples, *args, block: int, segment_length: int, warmup: int, **kwargs) -> None:
        super().__init__(items, examples, *args, segment_length=segment_length, warmup=warmup, **kwargs)
        starts, counts, _ = user_runs(examples)
        self.block_of = blocks_of(segments(starts, counts, segment_length, warmup)[3], block)

    def _order(self, rng: np.random.Generator) -> np.ndarray:
        rank = np.argsort(rng.permutation(int(self.block_of.max()) + 1))  # rank of each block
        return np.argsort(rank[self.block_of], kind="stable")


class ClusteredSequenceMode(modes.SequenceMode):
    """SequenceMode whose batches are ClusteredBatches."""

    def __init__(self, mode: modes.SequenceMode, block: int) -> None:
        super().__init__(mode.segment_length, mode.warmup, mode.chunk_length)
        self.block = block

    def batches(self, items, examples, sampling, users=None):
        if self.segment_length is None:
            raise SystemExit("clustered_batches.py needs --segment_length")
        return ClusteredBatches(items, examples, sampling.batch_size, sampling.seed, sampling.sampler,
                                sampling.num_negatives, sampling.candidates, segment_length=self.segment_length,
                                warmup=self.warmup, rank=sampling.rank, world_size=sampling.world_size, users=users,
                                block=self.block)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="train_mode 'sequence' with batches of consecutive segments")
    parser.add_argument("--block", type=positive, required=True, help="consecutive segments of a run kept together")
    args, rest = parser.parse_known_args()
    sys.exit(run_with(rest, lambda mode: ClusteredSequenceMode(mode, args.block)))
