"""What the models that compare a history with training sequences share (SKNN, V-SKNN, STAN): the
sequences as item sets ordered by recency, every item's holders, the candidate neighbours of a
batch of histories with what they share, the k nearest, and the scatter of their votes.

Candidate neighbours (session-rec's "possible neighbours" with recent sampling): the training
sequences that share an item with the history, of which the `sample_size` most recent. They are
found from every item's holder list (most recent first) cut to its `sample_size` most recent: the
most recent candidates of a history are each among the most recent holders of one of its items, so
the cut lists give exactly the same candidates at a cost bounded by history length x sample_size
per history, whatever the items' popularity. What a candidate shares with the history is then read
from whichever is smaller: the full holder lists of the history's items (small catalogues with long
sequences, such as ml-100k) or the candidates' item sets (large catalogues).
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch

from ..data.batching import Batch
from ..data.dataset import SequenceDataset
from ..data.split import Examples
from .base import FittedRecommender
from .neighbours import mask_seen, span_positions, training_spans

ROWS_PER_PASS = 64  # histories scored together (bounds the working memory of a pass)


@dataclass(frozen=True)
class SequenceSets:
    """The training sequences ordered by recency (row S-1 is the most recent) as item sets: row r
    holds `items[offsets[r]:offsets[r + 1]]` (ascending, distinct), each with `last`, its last
    1-based position in the sequence; `times` is each sequence's last timestamp (None when the
    dataset has none). Recency is the last timestamp where the dataset has times (ties: sequence id
    order), else sequence id order (the first appearance in the interaction file, or a session's
    start time)."""

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
    times = None if dataset.times is None else np.asarray(dataset.times, dtype=np.float64)[ends]
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


def postings(sets: SequenceSets, n_items: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every item's holders, most recent first, as CSR offsets [n_items + 1], sequence rows [nnz]
    and the item's last position in each of them [nnz]."""
    rows = np.repeat(np.arange(len(sets.sizes)), sets.sizes)
    order = np.lexsort((-rows, sets.items))
    offsets = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(sets.items, minlength=n_items), out=offsets[1:])
    return offsets, rows[order].astype(np.int64), sets.last[order]


def expand(offsets: torch.Tensor, chosen: torch.Tensor, cap: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """For CSR `offsets` and [N] chosen rows: the index into `chosen` and the CSR entry of every
    entry of those rows (only the first `cap` of each row when cap > 0), in order."""
    counts = offsets[chosen + 1] - offsets[chosen]  # [N]
    if cap:
        counts = counts.clamp(max=cap)
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

    @property
    def sizes(self) -> torch.Tensor:
        """[B] distinct items per history."""
        return torch.bincount(self.rows, minlength=len(self.lengths))


@dataclass
class Neighbourhood:
    """The candidate neighbours of a batch of histories and what they share with them: candidate c
    is training sequence `sequences[c]` for history `rows[c]` (sorted by history, then sequence);
    shared pair j says that candidate `owner[j]` holds the history's item `slot[j]` (an index into
    the HistorySets), whose last position in that sequence is `position[j]`."""

    rows: torch.Tensor
    sequences: torch.Tensor
    owner: torch.Tensor
    slot: torch.Tensor
    position: torch.Tensor


class SetNeighbours(FittedRecommender):
    """The fitted arrays of a model that compares histories with training sequences as item sets:
    the sets (CSR `entry_offsets` [S + 1], `entry_items` [nnz], `entry_last` [nnz] last positions)
    and every item's holders, most recent first (CSR `posting_offsets` [n_items + 1],
    `posting_rows` [nnz], `posting_last` [nnz])."""

    def __init__(self, n_items: int, k: int, sample_size: int, exclude_seen: bool) -> None:
        super().__init__(n_items)
        self.k, self.sample_size, self.exclude_seen = k, sample_size, exclude_seen
        self.pair_source = "auto"  # 'holders' or 'sets' force one way of reading the shared pairs (tests)
        self.register_buffer("entry_offsets", torch.zeros(1, dtype=torch.long))  # [S + 1]
        self.register_buffer("entry_items", torch.zeros(0, dtype=torch.long))  # [nnz]
        self.register_buffer("entry_last", torch.zeros(0, dtype=torch.long))  # [nnz]
        self.register_buffer("posting_offsets", torch.zeros(n_items + 1, dtype=torch.long))  # [n_items + 1]
        self.register_buffer("posting_rows", torch.zeros(0, dtype=torch.long))  # [nnz]
        self.register_buffer("posting_last", torch.zeros(0, dtype=torch.long))  # [nnz]

    def fit(self, dataset: SequenceDataset, train: Examples) -> None:
        """The item sets of the training sequences, ordered by recency, and the items' holders."""
        sets = sequence_sets(dataset, train)
        offsets, rows, last = postings(sets, self.n_items)
        self.entry_offsets, self.entry_items = torch.from_numpy(sets.offsets), torch.from_numpy(sets.items)
        self.entry_last = torch.from_numpy(sets.last)
        self.posting_offsets, self.posting_rows = torch.from_numpy(offsets), torch.from_numpy(rows)
        self.posting_last = torch.from_numpy(last)
        self.fit_extra(dataset, train, sets)

    def fit_extra(self, dataset: SequenceDataset, train: Examples, sets: SequenceSets) -> None:
        """Further fitted arrays of a subclass (none here)."""

    @property
    def n_sequences(self) -> int:
        return len(self.entry_offsets) - 1

    @property
    def sequence_sizes(self) -> torch.Tensor:
        """[S] distinct items per training sequence."""
        return self.entry_offsets[1:] - self.entry_offsets[:-1]

    def neighbourhood(self, sets: HistorySets) -> Neighbourhood:
        """The histories' candidates and what they share with them. The candidates come from the
        items' holders cut to the `sample_size` most recent (see the module docstring); the shared
        pairs from whichever is smaller: the items' full holder lists, or the candidates' item sets."""
        size = self.n_sequences
        owner, entry = expand(self.posting_offsets, sets.items, self.sample_size)
        key = torch.unique(sets.rows[owner] * size + self.posting_rows[entry])  # [pairs] sorted
        rows, sequences = key // size, key % size
        if self.sample_size:
            ends = torch.bincount(rows, minlength=len(sets.lengths)).cumsum(0)  # [B] where each history's end
            newer = ends[rows] - 1 - torch.arange(len(rows), device=rows.device)  # its candidates more recent
            recent = newer < self.sample_size
            rows, sequences, key = rows[recent], sequences[recent], key[recent]
        holders = (self.posting_offsets[sets.items + 1] - self.posting_offsets[sets.items]).sum()
        if self.pair_source == "auto":
            use_holders = bool(holders <= self.sequence_sizes[sequences].sum())
        else:
            use_holders = self.pair_source == "holders"
        if use_holders:  # from the holder lists of the history's items
            slot, entry = expand(self.posting_offsets, sets.items)
            found = sets.rows[slot] * size + self.posting_rows[entry]
            owner = torch.searchsorted(key, found).clamp(max=max(len(key) - 1, 0))
            hit = key[owner] == found if len(key) else torch.zeros_like(found, dtype=torch.bool)
            return Neighbourhood(rows, sequences, owner[hit], slot[hit], self.posting_last[entry[hit]])
        owner, entry = expand(self.entry_offsets, sequences)  # from the candidates' item sets
        slots = torch.full((len(sets.lengths) * self.n_items,), -1, dtype=torch.long, device=rows.device)
        slots[sets.rows * self.n_items + sets.items] = torch.arange(len(sets.rows), device=rows.device)
        slot = slots[rows[owner] * self.n_items + self.entry_items[entry]]  # [E]
        hit = slot >= 0
        return Neighbourhood(rows, sequences, owner[hit], slot[hit], self.entry_last[entry[hit]])

    def votes(self, near: Neighbourhood, keep: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The kept neighbours' item sets: for each entry, its candidate (index into near.rows), item
        and last position in the neighbour."""
        owner, entry = expand(self.entry_offsets, near.sequences[keep])
        return keep[owner], self.entry_items[entry], self.entry_last[entry]

    def score(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, n_items] scores of one pass."""
        raise NotImplementedError(f"{type(self).__name__} must implement score")

    def full_scores(self, batch: Batch) -> torch.Tensor:
        """[B, n_items]: the neighbours' weighted votes for the items they hold."""
        scores = torch.cat([self.score(batch.history[first:first + ROWS_PER_PASS],
                                       batch.lengths[first:first + ROWS_PER_PASS])
                            for first in range(0, len(batch), ROWS_PER_PASS)])
        return mask_seen(scores, batch.history) if self.exclude_seen else scores


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


def scatter_scores(batch: int, n_items: int, rows: torch.Tensor, items: torch.Tensor,
                   values: torch.Tensor) -> torch.Tensor:
    """[batch, n_items] sums of `values` at (rows, items)."""
    scores = torch.zeros(batch * n_items, dtype=values.dtype, device=values.device)
    scores.index_add_(0, rows * n_items + items, values)
    return scores.view(batch, n_items)
