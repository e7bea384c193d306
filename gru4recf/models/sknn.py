"""SKNN: session-based nearest neighbours (Jannach & Ludewig, RecSys 2017; Ludewig et al.), with
session-rec's keys and defaults.

A history is compared with every training sequence (a user's, or a session) as item sets, by cosine:
sim(h, s) = |h & s| / sqrt(|h| |s|). The candidates are the training sequences that share an item
with the history, of which the `sample_size` most recent are kept (0: all), and of those the `k` most
similar are its neighbours (ties: the more recent). An item's score is the sum of the similarities
of the neighbours that hold it. The dataset keeps no timestamps, so "more recent" is the later
sequence in id order: ids follow the first appearance in the interaction file, which is time
order for a time-sorted file (a session log) and file order otherwise.

The training sequences are a sparse sequence x item matrix whose non-zeros (sequence, item) are
buffers; a batch is scored with two sparse-dense products.
"""
from dataclasses import dataclass

import numpy as np
import torch

from ..config import checks as c
from ..config.settings import setting
from ..data.batching import Batch
from ..data.dataset import SequenceDataset
from ..data.split import Examples
from .base import FittedRecommender
from .neighbours import training_sequences
from .spec import Catalogue, ModelSettings, ModelSpec


@dataclass(frozen=True)
class SKNNSettings(ModelSettings):
    """session-rec's SKNN (ContextKNN) keys and defaults: cosine similarity, recent sampling."""

    title = "SKNN"
    k: int = setting(100, c.integer(1), "Neighbours: the most similar training sequences that score items.")
    sample_size: int = setting(500, c.integer(0), "Candidates: the most recent sequences sharing an item (0: all).")


class SKNN(FittedRecommender):
    """Scores items by the cosine similarity of the training sequences that hold them to the history."""

    def __init__(self, n_items: int, k: int = 100, sample_size: int = 500) -> None:
        super().__init__(n_items)
        self.k, self.sample_size = k, sample_size
        self.register_buffer("sequence_sizes", torch.zeros(0))  # [S] items per training sequence
        self.register_buffer("entry_sequences", torch.zeros(0, dtype=torch.long))  # [nnz] the sequence x item
        self.register_buffer("entry_items", torch.zeros(0, dtype=torch.long))  # [nnz] matrix's non-zeros

    @classmethod
    def build(cls, settings: SKNNSettings, catalogue: Catalogue) -> "SKNN":
        return cls(catalogue.n_items, settings.k, settings.sample_size)

    def fit(self, dataset: SequenceDataset, train: Examples) -> None:
        """The item sets of the training sequences, in user id order (the recency order)."""
        sequences = training_sequences(dataset, train).tocoo()  # [S, n_items]
        self.sequence_sizes = torch.from_numpy(np.asarray(sequences.sum(axis=1), dtype=np.float32).ravel())
        self.entry_sequences = torch.from_numpy(sequences.row.astype(np.int64))
        self.entry_items = torch.from_numpy(sequences.col.astype(np.int64))

    def _matrix(self) -> torch.Tensor:
        """The [S, n_items] sequence x item matrix, as a sparse COO tensor."""
        indices = torch.stack([self.entry_sequences, self.entry_items])  # [2, nnz]
        return torch.sparse_coo_tensor(indices, torch.ones_like(self.entry_items, dtype=torch.float),
                                       (len(self.sequence_sizes), self.n_items), check_invariants=True)

    def full_scores(self, batch: Batch) -> torch.Tensor:
        """[B, n_items]: the summed similarities of each history's neighbours holding each item."""
        sequences = self._matrix()  # [S, n_items]
        history = torch.zeros(len(batch.lengths), self.n_items, device=self.sequence_sizes.device)
        history.scatter_(1, batch.history, 1.0)  # [B, n_items] item sets
        history[:, 0] = 0.0  # padding is no item
        overlap = torch.sparse.mm(sequences, history.t()).t()  # [B, S] |h & s|
        similarity = overlap / (history.sum(1, keepdim=True) * self.sequence_sizes).clamp(min=1.0).sqrt()  # [B, S]
        candidate = overlap > 0
        if self.sample_size:
            newer = candidate.flip(1).cumsum(1).flip(1)  # [B, S] candidates at this row or later
            candidate &= newer <= self.sample_size
        similarity = similarity.masked_fill(~candidate, 0.0)
        # the k most similar, ties to the more recent: a stable sort of the sequences newest first
        order = similarity.flip(1).sort(dim=1, descending=True, stable=True).indices[:, : self.k]
        newest_first = similarity.shape[1] - 1 - order  # [B, <=k] sequence rows
        weights = torch.zeros_like(similarity).scatter_(1, newest_first, similarity.gather(1, newest_first))
        return torch.sparse.mm(sequences.t(), weights.t()).t()  # [B, n_items]


MODEL = ModelSpec("SKNN", SKNNSettings, SKNN,
                  "Jannach & Ludewig, When Recurrent Neural Networks meet the Neighborhood (RecSys 2017)",
                  fitted=True, train_modes=())
