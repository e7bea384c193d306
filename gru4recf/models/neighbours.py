"""What the neighbourhood baselines share (ItemKNN, SR, SKNN, V-SKNN, STAN): the training sequences
(as a sparse sequence x item matrix, or as item sets with positions, most recent first), the k
largest entries of each row of a sparse matrix, the candidate neighbours of a batch of histories
and the `exclude_seen` rule.

Candidate neighbours (session-rec's "possible neighbours" with recent sampling): the training
sequences that share an item with the history, of which the `sample_size` most recent. They are
found from every item's posting list (the sequences holding it, most recent first) cut to its
`sample_size` most recent: the most recent candidates of a history are each among the most recent
holders of one of its items, so the cut lists give exactly the same candidates at a cost bounded
by history length x sample_size per history, whatever the items' popularity.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp
import torch

from ..config import checks as c
from ..config.settings import setting
from ..data.batching import Batch
from ..data.dataset import SequenceDataset
from ..data.split import Examples
from .base import FittedRecommender

ROWS_PER_PASS = 64  # histories scored together by the set-based models (bounds their working memory)


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


def top_per_row(matrix: sp.coo_matrix, k) -> Tuple[np.ndarray, np.ndarray]:
    """The `k` largest entries of every row of a [R, C] sparse matrix (ties: lower column first) as
    [R, width] column ids and values (width = min(k, the fullest row), at least 1; padded with 0).
    `k` is one number or one per row."""
    rows, cols, values = top_entries(matrix, k)
    first = np.searchsorted(rows, rows, side="left")
    rank = np.arange(len(rows)) - first
    width = int(rank.max()) + 1 if len(rank) else 1
    ids = np.zeros((matrix.shape[0], width), dtype=np.int64)
    sims = np.zeros((matrix.shape[0], width), dtype=np.float32)
    ids[rows, rank] = cols
    sims[rows, rank] = values
    return ids, sims


def top_entries(matrix: sp.coo_matrix, k) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The `k` largest entries of every row (one number, or one per row), sorted by row, then value
    descending, then column: their rows, columns and values."""
    rows, cols, values = matrix.row, matrix.col, matrix.data
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
    keep = rank < (k if np.isscalar(k) else np.asarray(k)[rows])
    return rows[keep], cols[keep], values[keep]


@dataclass(frozen=True)
class SequenceSets:
    """The training sequences ordered by recency (row S-1 is the most recent) as item sets: row r holds `items[offsets[r]:offsets[r + 1]]` (ascending, distinct), each with `last`,
    its last 1-based position in the sequence; `times` is each sequence's last timestamp (None when
    the dataset has none). Recency is the last timestamp where the dataset has times (ties: user
    id order), else user id order (the first appearance in the interaction file)."""

    offsets: np.ndarray
    items: np.ndarray
    last: np.ndarray
    times: Optional[np.ndarray]

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)


def sequence_sets(dataset: SequenceDataset, train: Examples) -> SequenceSets:
    """The item sets (with last positions) of the training sequences, ordered by recency."""
    starts, ends = training_spans(train)
    all_times = getattr(dataset, "times", None)
    times = None if all_times is None else np.asarray(all_times, dtype=np.float64)[ends]
    if times is not None:
        order = np.argsort(times, kind="stable")
        starts, ends, times = starts[order], ends[order], times[order]
    rows, positions = span_positions(starts, ends)
    items = dataset.items[positions]
    step = positions - starts[rows] + 1  # 1-based position in its sequence
    order = np.lexsort((step, items, rows))
    rows, items, step = rows[order], items[order], step[order]
    last = np.ones(len(rows), dtype=bool)
    last[:-1] = (rows[1:] != rows[:-1]) | (items[1:] != items[:-1])  # the last event of each (row, item)
    rows, items, step = rows[last], items[last], step[last]
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(starts)), out=offsets[1:])
    return SequenceSets(offsets, items.astype(np.int64), step.astype(np.int64), times)


def postings(sets: SequenceSets, n_items: int, sample_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Every item's holders, most recent first, cut to the `sample_size` most recent (0: all), as
    CSR offsets [n_items + 1] and sequence rows."""
    rows = np.repeat(np.arange(len(sets.sizes)), sets.sizes)
    order = np.lexsort((-rows, sets.items))
    items, rows = sets.items[order], rows[order]
    if sample_size:
        rank = np.arange(len(items)) - np.searchsorted(items, items, side="left")
        items, rows = items[rank < sample_size], rows[rank < sample_size]
    offsets = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(items, minlength=n_items), out=offsets[1:])
    return offsets, rows.astype(np.int64)


def expand(offsets: torch.Tensor, chosen: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """For CSR `offsets` and [N] chosen rows: the index into `chosen` and the CSR entry of every
    entry of those rows, in order."""
    counts = offsets[chosen + 1] - offsets[chosen]  # [N]
    owner = torch.repeat_interleave(torch.arange(len(chosen), device=chosen.device), counts)  # [E]
    begin = torch.repeat_interleave(offsets[chosen] - (torch.cumsum(counts, 0) - counts), counts)
    return owner, begin + torch.arange(len(owner), device=chosen.device)


@dataclass
class HistorySets:
    """The distinct items of a batch of histories: `rows` [H] and `items` [H] sorted by (row, item),
    `last` [H] the item's last 1-based position in its history, `lengths` [B] the histories' lengths."""

    rows: torch.Tensor
    items: torch.Tensor
    last: torch.Tensor
    lengths: torch.Tensor

    @classmethod
    def of(cls, history: torch.Tensor, lengths: torch.Tensor, n_items: int) -> "HistorySets":
        batch, width = history.shape
        position = torch.arange(1, width + 1, device=history.device).expand(batch, width)  # [B, L]
        valid = (position <= lengths.unsqueeze(1)) & (history != 0)
        rows = torch.arange(batch, device=history.device).unsqueeze(1).expand(batch, width)[valid]
        key = rows * n_items + history[valid]  # [events]
        distinct, inverse = torch.unique(key, return_inverse=True)
        last = torch.zeros(len(distinct), dtype=torch.long, device=history.device)
        last.scatter_reduce_(0, inverse, position[valid], "amax")
        return cls(distinct // n_items, distinct % n_items, last, lengths)


def candidates(sets: HistorySets, posting_offsets: torch.Tensor, posting_rows: torch.Tensor,
               n_sequences: int, sample_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The candidate neighbours of each history: [C] history rows and training sequence rows,
    sorted by (history, sequence); per history the `sample_size` most recent sequences that hold
    one of its items (0: all of them)."""
    owner, entry = expand(posting_offsets, sets.items)
    key = torch.unique(sets.rows[owner] * n_sequences + posting_rows[entry])  # [pairs] sorted
    rows, sequences = key // n_sequences, key % n_sequences
    if sample_size:
        newer = torch.bincount(rows, minlength=len(sets.lengths)).cumsum(0)[rows] - 1 - torch.arange(
            len(rows), device=rows.device)  # candidates of the same history more recent than this one
        rows, sequences = rows[newer < sample_size], sequences[newer < sample_size]
    return rows, sequences


def shared_entries(sets: HistorySets, rows: torch.Tensor, sequences: torch.Tensor, entry_offsets: torch.Tensor,
                   entry_items: torch.Tensor, n_items: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The entries of the candidates' item sets: the candidate of each [E], its CSR entry [E], and
    the index of the same item in `sets` (-1 where the history does not hold it)."""
    owner, entry = expand(entry_offsets, sequences)
    key = rows[owner] * n_items + entry_items[entry]
    history_key = sets.rows * n_items + sets.items  # sorted
    found = torch.searchsorted(history_key, key).clamp(max=max(len(history_key) - 1, 0))
    slot = torch.where(history_key[found] == key, found, torch.full_like(found, -1)) if len(history_key) else \
        torch.full_like(key, -1)
    return owner, entry, slot


def nearest(rows: torch.Tensor, sequences: torch.Tensor, similarity: torch.Tensor, k: int) -> torch.Tensor:
    """The candidates kept as neighbours: per history the `k` most similar with a similarity above 0
    (ties: the more recent sequence), as indices into the candidates."""
    order = torch.argsort(sequences, descending=True, stable=True)
    order = order[torch.argsort(similarity[order], descending=True, stable=True)]
    order = order[torch.argsort(rows[order], stable=True)]  # by history, similarity desc, recency desc
    ranked = rows[order]
    rank = torch.arange(len(order), device=rows.device) - torch.searchsorted(ranked, ranked)
    keep = order[rank < k]
    return keep[similarity[keep] > 0]


def in_passes(score, batch: Batch) -> torch.Tensor:
    """[B, n_items]: `score(history, lengths)` over slices of ROWS_PER_PASS histories, concatenated."""
    return torch.cat([score(batch.history[first:first + ROWS_PER_PASS], batch.lengths[first:first + ROWS_PER_PASS])
                      for first in range(0, len(batch), ROWS_PER_PASS)])


def scatter_scores(batch: int, n_items: int, rows: torch.Tensor, items: torch.Tensor,
                   values: torch.Tensor) -> torch.Tensor:
    """[batch, n_items] sums of `values` at (rows, items)."""
    scores = torch.zeros(batch * n_items, dtype=values.dtype, device=values.device)
    scores.index_add_(0, rows * n_items + items, values)
    return scores.view(batch, n_items)


class SetNeighbours(FittedRecommender):
    """The fitted arrays of a model that compares histories with training sequences as item sets:
    the sets (CSR `entry_offsets` [S + 1], `entry_items` [nnz], `entry_last` [nnz] last positions)
    and every item's most recent holders (CSR `posting_offsets` [n_items + 1], `posting_rows`)."""

    def __init__(self, n_items: int, k: int, sample_size: int, exclude_seen: bool) -> None:
        super().__init__(n_items)
        self.k, self.sample_size, self.exclude_seen = k, sample_size, exclude_seen
        self.register_buffer("entry_offsets", torch.zeros(1, dtype=torch.long))  # [S + 1]
        self.register_buffer("entry_items", torch.zeros(0, dtype=torch.long))  # [nnz]
        self.register_buffer("entry_last", torch.zeros(0, dtype=torch.long))  # [nnz]
        self.register_buffer("posting_offsets", torch.zeros(n_items + 1, dtype=torch.long))  # [n_items + 1]
        self.register_buffer("posting_rows", torch.zeros(0, dtype=torch.long))  # [P]

    def fit(self, dataset: SequenceDataset, train: Examples) -> None:
        """The item sets of the training sequences, ordered by recency, and the items' holders."""
        sets = sequence_sets(dataset, train)
        offsets, rows = postings(sets, self.n_items, self.sample_size)
        self.entry_offsets, self.entry_items = torch.from_numpy(sets.offsets), torch.from_numpy(sets.items)
        self.entry_last = torch.from_numpy(sets.last)
        self.posting_offsets, self.posting_rows = torch.from_numpy(offsets), torch.from_numpy(rows)
        self.fit_extra(dataset, train, sets)

    def fit_extra(self, dataset, train, sets) -> None:
        """Further fitted arrays of a subclass (none here)."""

    @property
    def n_sequences(self) -> int:
        return len(self.entry_offsets) - 1

    def neighbourhood(self, history: torch.Tensor, lengths: torch.Tensor):
        """The histories' item sets, their candidates (rows, sequences) and the candidates' entries
        (candidate, entry, slot in the history's set or -1); see neighbours.candidates."""
        sets = HistorySets.of(history, lengths, self.n_items)
        rows, sequences = candidates(sets, self.posting_offsets, self.posting_rows, self.n_sequences,
                                     self.sample_size)
        owner, entry, slot = shared_entries(sets, rows, sequences, self.entry_offsets, self.entry_items,
                                            self.n_items)
        return sets, rows, sequences, owner, entry, slot

    def score(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, n_items] scores of one pass."""
        raise NotImplementedError(f"{type(self).__name__} must implement score")

    def full_scores(self, batch: Batch) -> torch.Tensor:
        """[B, n_items]: the neighbours' weighted votes for the items they hold."""
        scores = in_passes(self.score, batch)
        return mask_seen(scores, batch.history) if self.exclude_seen else scores
