"""What the neighbourhood baselines share (ItemKNN, SR, SKNN, V-SKNN, STAN): the training sequences
(their spans in the interaction array, or a sparse sequence x item matrix), the k largest entries of
each row of a sparse matrix, and the `exclude_seen` rule. The sequence-neighbour models' own
machinery is in sequence_neighbours.py."""
from typing import Tuple

import numpy as np
import scipy.sparse as sp
import torch

from ..config import checks as c
from ..config.settings import setting
from ..data.dataset import SequenceDataset
from ..data.split import Examples

DECAYS = ("linear", "same", "div", "log", "quadratic")


def decay(name: str, steps: torch.Tensor) -> torch.Tensor:
    """session-rec's decay functions of a distance in events (1: the nearest), float64: same 1,
    div 1/i, quadratic 1/i^2, log 1/log10(i + 1.7), linear max(0, 1 - 0.1 i) (session-rec's linear
    turns negative past 10 events; clipped at 0 here)."""
    i = steps.double()
    if name == "same":
        return torch.ones_like(i)
    if name == "div":
        return 1 / i
    if name == "quadratic":
        return 1 / i ** 2
    if name == "log":
        return 1 / torch.log10(i + 1.7)
    return (1 - 0.1 * i).clamp(min=0.0)  # linear


def exclude_seen_setting() -> bool:
    """The `exclude_seen` field of a neighbourhood baseline (off: the published algorithms score
    the history's own items)."""
    return setting(False, c.boolean, "Never recommend an item of the history (score -inf); "
                                     "off as published (session-rec scores them: 'remind').")


def mask_seen(scores: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
    """[B, n_items] scores with every item of each [B, L] history (padding aside) at -inf."""
    seen = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, history, True)  # [B, n_items]
    seen[:, 0] = False  # padding is scored by nobody; the evaluator masks it
    return scores.masked_fill(seen, float("-inf"))


def training_spans(train: Examples) -> Tuple[np.ndarray, np.ndarray]:
    """Each training sequence as [start, end] positions of the interaction array (inclusive), in
    user id order: from the user's first item to the last target of its training examples (in
    leave-one-out, every item before the validation target). Users without training examples have none."""
    starts, inverse = np.unique(train.starts, return_inverse=True)
    ends = np.full(len(starts), -1, dtype=np.int64)
    np.maximum.at(ends, inverse, train.targets)
    return starts.astype(np.int64), ends


def span_positions(starts: np.ndarray, ends: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The sequence row and the interaction position of every event of the spans, in order."""
    lengths = ends - starts + 1  # [S]
    rows = np.repeat(np.arange(len(starts)), lengths)
    positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
    return rows, positions


def training_sequences(dataset: SequenceDataset, train: Examples) -> sp.csr_matrix:
    """Each user's training sequence as a binary row of a [S, n_items] CSR matrix (an item read
    twice counts once), rows in user id order."""
    rows, positions = span_positions(*training_spans(train))
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, dataset.items[positions])),
                           shape=(len(np.unique(train.starts)), dataset.n_items))
    matrix.data[:] = 1.0  # duplicates were summed: sets, not counts
    return matrix


def as_table(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_rows: int) -> Tuple[np.ndarray, np.ndarray]:
    """Entries grouped by row (as top_entries gives them) as [n_rows, width] column ids and values,
    padded with 0 (width: the fullest row, at least 1): each row's k largest, e.g. ItemKNN's
    neighbours."""
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
    width = int(rank.max()) + 1 if len(rank) else 1
    ids = np.zeros((n_rows, width), dtype=np.int64)
    sims = np.zeros((n_rows, width), dtype=np.float32)
    ids[rows, rank] = cols
    sims[rows, rank] = values
    return ids, sims


def top_entries(matrix: sp.spmatrix, k) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The `k` largest entries of every row (one number, or one per row; ties: lower column first)
    of a sparse matrix without duplicate entries, grouped by row: their rows, columns and values.
    Rows holding more than k entries are selected in groups of similar length, each a padded
    [rows, width] array in which the k-th largest value is found by np.partition (or a sort per
    row when k differs between rows): O(width) per row, no global sort. Only the entries tied with
    a row's k-th largest value are sorted, by column, to keep the lower columns."""
    matrix = sp.csr_matrix(matrix)
    counts = np.diff(matrix.indptr)  # [R]
    limit = np.broadcast_to(np.asarray(k, dtype=np.int64), counts.shape)  # [R]
    keep = np.repeat(counts <= limit, counts)  # [nnz] every entry of a row with at most k
    long_rows = np.flatnonzero(counts > limit)
    widths = 1 << np.ceil(np.log2(np.maximum(counts[long_rows], 1))).astype(np.int64)
    for width in np.unique(widths):
        rows = long_rows[widths == width]  # [G]
        local, entry = _row_entries(matrix.indptr, rows)
        column = entry - matrix.indptr[rows][local]
        values = np.full((len(rows), width), -np.inf, dtype=matrix.data.dtype)
        values[local, column] = matrix.data[entry]  # [G, width] padded with -inf
        want = limit[rows]
        if np.isscalar(k):
            kth = -np.partition(-values, int(k) - 1, axis=1)[:, int(k) - 1]
        else:
            kth = np.take_along_axis(-np.sort(-values, axis=1), (want - 1)[:, None], axis=1)[:, 0]
        above = matrix.data[entry] > kth[local]
        keep[entry[above]] = True
        tied = np.flatnonzero(matrix.data[entry] == kth[local])  # into entry: the ties at the k-th value
        tied = tied[np.lexsort((matrix.indices[entry[tied]], local[tied]))]  # by row, then column
        tied_rows = local[tied]
        rank = np.arange(len(tied)) - np.searchsorted(tied_rows, tied_rows)
        room = want - np.bincount(local[above], minlength=len(rows))  # [G] places left for ties
        keep[entry[tied[rank < room[tied_rows]]]] = True
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    return rows[keep], matrix.indices[keep].astype(np.int64), matrix.data[keep]


def _row_entries(indptr: np.ndarray, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """For CSR `indptr` and chosen rows: the index into `rows` and the entry of each of their entries."""
    counts = indptr[rows + 1] - indptr[rows]
    local = np.repeat(np.arange(len(rows)), counts)
    return local, np.repeat(indptr[rows] - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))


def row_scores(offsets: torch.Tensor, columns: torch.Tensor, values: torch.Tensor, rows: torch.Tensor,
               n_items: int) -> torch.Tensor:
    """[len(rows), n_items]: row `rows[b]` of the CSR matrix (offsets, columns, values) as dense row b."""
    counts = offsets[rows + 1] - offsets[rows]  # [B]
    owner = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), counts)  # [E]
    entry = torch.repeat_interleave(offsets[rows] - (torch.cumsum(counts, 0) - counts), counts) + torch.arange(
        len(owner), device=rows.device)
    scores = torch.zeros(len(rows) * n_items, dtype=values.dtype, device=values.device)
    scores.index_add_(0, owner * n_items + columns[entry], values[entry])
    return scores.view(len(rows), n_items)
