"""ItemKNN: the item-to-item baseline of the GRU4Rec papers (Hidasi et al., ICLR 2016, after
Linden et al. 2003 and Davidson et al. 2010), with session-rec's keys and defaults.

Two items are similar when the same training sequences hold them:
sim(i, j) = |S_i & S_j| / ((|S_i| + lmbd)^alpha (|S_j| + lmbd)^(1 - alpha)), where S_i is the set
of training sequences (users, or sessions) that contain item i; an item is not its own neighbour.
Each item keeps its `n_sims` most similar items (ties: lower id first), and the scores after a
history are the similarities of its LAST item. The sequences are a sparse sequence x item matrix
(scipy.sparse), the co-occurrences its Gram matrix; the neighbours are two [n_items, width] buffers
(ids and similarities, padded with id 0 and similarity 0), so scoring a batch is one scatter.
"""
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ..config import checks as c
from ..config.settings import setting
from ..data.batching import Batch
from ..data.dataset import SequenceDataset
from ..data.split import Examples
from .base import FittedRecommender
from .neighbours import top_per_row, training_sequences
from .spec import Catalogue, ModelSettings, ModelSpec


@dataclass(frozen=True)
class ItemKNNSettings(ModelSettings):
    """session-rec's ItemKNN keys and defaults."""

    title = "ItemKNN"
    n_sims: int = setting(100, c.integer(1), "Neighbours kept per item (the most similar ones).")
    lmbd: float = setting(20.0, c.number(0.0), "Regularisation added to each item's support in the similarity.")
    alpha: float = setting(0.5, c.number(0.0, 1.0), "Weight of item i's support against item j's (0.5: cosine).")


class ItemKNN(FittedRecommender):
    """Scores the next item by its similarity to the history's last item."""

    def __init__(self, n_items: int, n_sims: int = 100, lmbd: float = 20.0, alpha: float = 0.5) -> None:
        super().__init__(n_items)
        self.n_sims, self.lmbd, self.alpha = n_sims, lmbd, alpha
        self.register_buffer("neighbours", torch.zeros(n_items, 1, dtype=torch.long))  # [n_items, width] ids
        self.register_buffer("similarities", torch.zeros(n_items, 1))  # [n_items, width]

    @classmethod
    def build(cls, settings: ItemKNNSettings, catalogue: Catalogue) -> "ItemKNN":
        return cls(catalogue.n_items, settings.n_sims, settings.lmbd, settings.alpha)

    def fit(self, dataset: SequenceDataset, train: Examples) -> None:
        """Co-occurrence counts of the training sequences, regularised, top `n_sims` per item."""
        sequences = training_sequences(dataset, train)  # [S, n_items]
        support = np.asarray(sequences.sum(axis=0)).ravel()  # [n_items] |S_i|
        together = (sequences.T @ sequences).tocoo()  # [n_items, n_items] |S_i & S_j|
        off = together.row != together.col
        rows, cols, counts = together.row[off], together.col[off], together.data[off]
        sims = counts / ((support[rows] + self.lmbd) ** self.alpha * (support[cols] + self.lmbd) ** (1 - self.alpha))
        ids, values = top_per_row(sp.coo_matrix((sims, (rows, cols)), shape=together.shape), self.n_sims)
        self.neighbours = torch.from_numpy(ids)
        self.similarities = torch.from_numpy(values)

    def full_scores(self, batch: Batch) -> torch.Tensor:
        """[B, n_items]: the similarities of each history's last item (0 beyond its neighbours)."""
        last = batch.history.gather(1, (batch.lengths - 1).unsqueeze(-1)).squeeze(-1)  # [B]
        scores = torch.zeros(len(last), self.n_items, device=self.similarities.device)
        return scores.scatter_add_(1, self.neighbours[last], self.similarities[last])  # [B, n_items]


MODEL = ModelSpec("ItemKNN", ItemKNNSettings, ItemKNN,
                  "The item-to-item kNN baseline of Hidasi et al. (ICLR 2016), after Linden et al. (2003)",
                  fitted=True, train_modes=())
