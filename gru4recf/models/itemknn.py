"""ItemKNN: the item-to-item baseline of the GRU4Rec papers (Hidasi et al., ICLR 2016, after
Linden et al. 2003 and Davidson et al. 2010), with session-rec's keys and defaults.

Two items are similar when the same training sequences hold them:
sim(i, j) = |S_i & S_j| / ((|S_i| + lmbd)^alpha (|S_j| + lmbd)^(1 - alpha)), where S_i is the set
of training sequences (users, or sessions) that contain item i; an item is not its own neighbour.
Each item keeps its `n_sims` most similar items (ties: lower id first), and the scores after a
history are the similarities of its LAST item. The sequences are a sparse sequence x item matrix
(scipy.sparse), the co-occurrences its Gram matrix, computed for blocks of items at a time (each
block's share of the products bounded by WORK_PER_BLOCK) and cut to the block's top `n_sims` at
once, so memory holds one block's co-occurrences, never the whole Gram matrix; the neighbours are
two [n_items, width] buffers (ids and similarities, padded with id 0 and similarity 0), so scoring a
batch is one scatter.
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
from .neighbours import as_table, exclude_seen_setting, mask_seen, top_entries, training_sequences
from .spec import Catalogue, ModelSettings, ModelSpec

WORK_PER_BLOCK = 1 << 24  # products |S_i & S_j| computed per block of items (bounds the fit's memory)


@dataclass(frozen=True)
class ItemKNNSettings(ModelSettings):
    """session-rec's ItemKNN keys and defaults."""

    title = "ItemKNN"
    n_sims: int = setting(100, c.integer(1), "Neighbours kept per item (the most similar ones).")
    lmbd: float = setting(20.0, c.number(0.0), "Regularisation added to each item's support in the similarity.")
    alpha: float = setting(0.5, c.number(0.0, 1.0), "Weight of item i's support against item j's (0.5: cosine).")
    exclude_seen: bool = exclude_seen_setting()


class ItemKNN(FittedRecommender):
    """Scores the next item by its similarity to the history's last item."""

    def __init__(self, n_items: int, n_sims: int = 100, lmbd: float = 20.0, alpha: float = 0.5,
                 exclude_seen: bool = False) -> None:
        super().__init__(n_items)
        self.n_sims, self.lmbd, self.alpha, self.exclude_seen = n_sims, lmbd, alpha, exclude_seen
        self.register_buffer("neighbours", torch.zeros(n_items, 1, dtype=torch.long))  # [n_items, width] ids
        self.register_buffer("similarities", torch.zeros(n_items, 1))  # [n_items, width]

    @classmethod
    def build(cls, settings: ItemKNNSettings, catalogue: Catalogue) -> "ItemKNN":
        return cls(catalogue.n_items, settings.n_sims, settings.lmbd, settings.alpha, settings.exclude_seen)

    def fit(self, dataset: SequenceDataset, train: Examples) -> None:
        """Co-occurrence counts of the training sequences, regularised, top `n_sims` per item."""
        sequences = training_sequences(dataset, train)  # [S, n_items]
        holders = sequences.T.tocsr()  # [n_items, S]
        support = np.diff(holders.indptr).astype(np.float64)  # [n_items] |S_i|
        work = np.cumsum(holders @ np.diff(sequences.indptr).astype(np.float64))  # [n_items] products so far
        bounds = np.unique(np.searchsorted(work, np.arange(0, work[-1] if len(work) else 0, WORK_PER_BLOCK)))
        left = (support + self.lmbd) ** self.alpha  # [n_items] the two factors of each item's normaliser
        right = (support + self.lmbd) ** (1 - self.alpha)
        parts = []
        for first, stop in zip(bounds, list(bounds[1:]) + [self.n_items]):
            block = holders[first:stop] @ sequences  # [block, n_items] CSR of |S_i & S_j|
            rows = np.repeat(np.arange(first, stop), np.diff(block.indptr))
            block.data[rows == block.indices] = 0  # an item is not its own neighbour
            block.data /= left[rows] * right[block.indices]
            block.eliminate_zeros()
            rows, cols, values = top_entries(block, self.n_sims)
            parts.append((rows + first, cols, values))
        if not parts:
            parts = [(np.zeros(0, np.int64),) * 2 + (np.zeros(0),)]
        ids, values = as_table(*(np.concatenate(part) for part in zip(*parts)), self.n_items)
        self.neighbours = torch.from_numpy(ids)
        self.similarities = torch.from_numpy(values)

    def full_scores(self, batch: Batch) -> torch.Tensor:
        """[B, n_items]: the similarities of each history's last item (0 beyond its neighbours)."""
        last = batch.history.gather(1, (batch.lengths - 1).unsqueeze(-1)).squeeze(-1)  # [B]
        scores = torch.zeros(len(last), self.n_items, device=self.similarities.device)
        scores.scatter_add_(1, self.neighbours[last], self.similarities[last])  # [B, n_items]
        return mask_seen(scores, batch.history) if self.exclude_seen else scores


MODEL = ModelSpec("ItemKNN", ItemKNNSettings, ItemKNN,
                  "The item-to-item kNN baseline of Hidasi et al. (ICLR 2016), after Linden et al. (2003)",
                  fitted=True, train_modes=())
