"""What the neighbourhood baselines share (ItemKNN, SKNN): the training sequences as a sparse
sequence x item matrix, and the k largest entries of each row of a sparse matrix."""
from typing import Tuple

import numpy as np
import scipy.sparse as sp

from ..data.dataset import SequenceDataset
from ..data.split import Examples


def training_sequences(dataset: SequenceDataset, train: Examples) -> sp.csr_matrix:
    """Each user's training sequence as a binary row of a [S, n_items] CSR matrix (an item read
    twice counts once), rows in user id order.

    A training sequence runs from the user's first item to the last target of its training
    examples (in leave-one-out: every item before the validation target); users without training
    examples have none."""
    starts, inverse = np.unique(train.starts, return_inverse=True)
    ends = np.full(len(starts), -1, dtype=np.int64)
    np.maximum.at(ends, inverse, train.targets)
    lengths = ends - starts + 1  # [S]
    rows = np.repeat(np.arange(len(starts)), lengths)
    positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, dataset.items[positions])),
                           shape=(len(starts), dataset.n_items))
    matrix.data[:] = 1.0  # duplicates were summed: sets, not counts
    return matrix


def top_per_row(matrix: sp.coo_matrix, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """The `k` largest entries of every row of a [R, C] sparse matrix (ties: lower column first) as
    [R, width] column ids and values (width = min(k, the fullest row), at least 1; padded with 0)."""
    rows, cols, values = matrix.row, matrix.col, matrix.data
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    first = np.searchsorted(rows, rows, side="left")
    rank = np.arange(len(rows)) - first
    keep = rank < k
    width = int(rank[keep].max()) + 1 if keep.any() else 1
    ids = np.zeros((matrix.shape[0], width), dtype=np.int64)
    sims = np.zeros((matrix.shape[0], width), dtype=np.float32)
    ids[rows[keep], rank[keep]] = cols[keep]
    sims[rows[keep], rank[keep]] = values[keep]
    return ids, sims
