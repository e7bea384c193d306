"""Pop: the most popular items, the same ranking after every history (the floor every model must beat).

Popularity is an item's count among the targets of the training examples (as RecBole's Pop counts
the items of its training interactions); ties go to the lower item id. The fitted arrays are the
counts and one score per item that orders by (count desc, id asc) without ties (n_items - 1 for
the first, 1 for the last, 0 for padding).
"""
from dataclasses import dataclass

import numpy as np
import torch

from ..data.batching import Batch
from ..data.dataset import SequenceDataset
from ..data.split import Examples
from .base import FittedRecommender
from .spec import Catalogue, ModelSettings, ModelSpec


@dataclass(frozen=True)
class PopSettings(ModelSettings):
    """Pop has no settings of its own."""

    title = "Pop"


class Pop(FittedRecommender):
    """Scores every item by its popularity among the training targets, whatever the history."""

    def __init__(self, n_items: int) -> None:
        super().__init__(n_items)
        self.register_buffer("counts", torch.zeros(n_items, dtype=torch.long))  # [n_items] training targets
        self.register_buffer("item_scores", torch.zeros(n_items))  # [n_items] distinct, by (count desc, id asc)

    @classmethod
    def build(cls, settings: PopSettings, catalogue: Catalogue) -> "Pop":
        return cls(catalogue.n_items)

    def fit(self, dataset: SequenceDataset, train: Examples) -> None:
        """Counts each item among the training targets; the padding id counts nothing."""
        counts = np.bincount(dataset.items[train.targets], minlength=self.n_items)[: self.n_items]
        counts[0] = 0
        ids = np.arange(1, self.n_items)
        order = ids[np.lexsort((ids, -counts[1:]))]  # most popular first, lower id on ties
        scores = np.zeros(self.n_items, dtype=np.float32)  # padding scores 0, below every item
        scores[order] = np.arange(self.n_items - 1, 0, -1, dtype=np.float32)  # exact integers up to 2**24 items
        self.counts = torch.from_numpy(counts.astype(np.int64))
        self.item_scores = torch.from_numpy(scores)

    def full_scores(self, batch: Batch) -> torch.Tensor:
        """[B, n_items]: the same fitted scores in every row."""
        return self.item_scores.unsqueeze(0).expand(len(batch.lengths), -1).clone()


MODEL = ModelSpec("Pop", PopSettings, Pop,
                  "The most popular training targets, after every history (the popularity baseline)",
                  fitted=True, train_modes=())
