"""benchmarks/clustered_batches.py: each batch holds whole blocks of one user's consecutive
segments, every target still exactly once an epoch."""
import sys
from pathlib import Path

import numpy as np

from gru4recf.data.sequence_batches import SequenceBatches
from gru4recf.data.split import Examples

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import clustered_batches  # noqa: E402 (a benchmark script, importable once its folder is on the path)


def users(counts) -> tuple:
    """Items 1.. in sequence, user u holding counts[u] events; every event but the first a target."""
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    targets = np.concatenate([np.arange(s + 1, s + n) for s, n in zip(starts, counts)])
    begins = np.concatenate([np.full(n - 1, s) for s, n in zip(starts, counts)])
    return np.arange(1, sum(counts) + 1), Examples(targets.astype(np.int64), begins.astype(np.int64))


def test_blocks_cut_each_run_and_never_span_two():
    run = np.array([0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    assert clustered_batches.blocks_of(run, 2).tolist() == [0, 0, 1, 1, 2, 3, 3, 4, 4, 5, 5]


def test_the_order_keeps_each_block_whole_and_in_order_and_an_epoch_has_every_target_once():
    items, examples = users([12, 30, 7, 25])
    batches = clustered_batches.ClusteredBatches(items, examples, 10, seed=3, segment_length=1, warmup=4, block=5)
    order = batches._order(np.random.default_rng(0))
    assert sorted(order.tolist()) == list(range(len(examples)))
    blocks = batches.block_of[order]
    stretches = np.split(order, np.flatnonzero(np.diff(blocks)) + 1)
    assert len(stretches) == batches.block_of.max() + 1  # each block in one stretch
    assert all(np.all(np.diff(s) == 1) for s in stretches)  # its segments in order
    sizes = sorted((int(s[0]), len(s)) for s in stretches)
    assert [n for _, n in sizes] == [5, 5, 1, 5, 5, 5, 5, 5, 4, 5, 1, 5, 5, 5, 5, 4]  # users of 11, 29, 6, 24 targets
    targets = [int(row[row != 0][-1]) for batch in batches for row in batch.targets]
    assert sorted(targets) == sorted(items[examples.targets].tolist())
    plain = SequenceBatches(items, examples, 10, seed=3, segment_length=1, warmup=4)
    assert [b.inputs.tolist() for b in plain] != [b.inputs.tolist() for b in batches]
