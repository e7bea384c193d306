"""SR: sequential rules (Kamehkhosh, Jannach & Ludewig, "A Comparison of Frequent Pattern Techniques
and a Deep Learning Method for Session-Based Recommendation", TempRec @ RecSys 2017; Ludewig &
Jannach, "Evaluation of session-based recommendation algorithms", UMUAI 2018), with session-rec's
keys and defaults (its SequentialRules).

A rule a -> b gains weight(i) each time b follows a at a distance of i <= `steps` events in a
training sequence (weighting 'div': 1/i; session-rec's decays, see neighbours.decay; an item
repeated within `steps` makes a rule to itself). Each item keeps its `pruning` heaviest rules (a
number >= 1; a fraction below 1 drops that share of its rules; 0 keeps all; ties: lower id first),
and the scores after a history are the weights of the rules of its LAST item. session-rec's final
division by the maximum does not change a ranking and is left out.

The rules are a CSR matrix of buffers (offsets [n_items + 1], items, weights), built with one
vectorised pass per distance, and a batch is scored by one scatter of its last items' rows.
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
from .neighbours import (DECAYS, decay, exclude_seen_setting, mask_seen, row_scores, span_positions, top_entries,
                         training_spans)
from .spec import Catalogue, ModelSettings, ModelSpec


@dataclass(frozen=True)
class SRSettings(ModelSettings):
    """session-rec's SequentialRules keys and defaults."""

    title = "SR"
    steps: int = setting(10, c.integer(1), "Longest distance, in events, from a rule's item to the one it predicts.")
    weighting: str = setting("div", c.one_of(DECAYS), "Weight of a rule occurrence by its distance.")
    pruning: float = setting(20.0, c.number(0.0), "Rules kept per item: a number >= 1; below 1, the share of "
                                                  "rules dropped; 0: all.")
    exclude_seen: bool = exclude_seen_setting()


class SR(FittedRecommender):
    """Scores the next item by the weights of the rules from the history's last item."""

    def __init__(self, n_items: int, steps: int = 10, weighting: str = "div", pruning: float = 20.0,
                 exclude_seen: bool = False) -> None:
        super().__init__(n_items)
        self.steps, self.weighting, self.pruning, self.exclude_seen = steps, weighting, pruning, exclude_seen
        self.register_buffer("rule_offsets", torch.zeros(n_items + 1, dtype=torch.long))  # [n_items + 1]
        self.register_buffer("rule_items", torch.zeros(0, dtype=torch.long))  # [R] what each rule predicts
        self.register_buffer("rule_weights", torch.zeros(0, dtype=torch.float64))  # [R]

    @classmethod
    def build(cls, settings: SRSettings, catalogue: Catalogue) -> "SR":
        return cls(catalogue.n_items, settings.steps, settings.weighting, settings.pruning, settings.exclude_seen)

    def fit(self, dataset: SequenceDataset, train: Examples) -> None:
        """Rule weights over the training sequences, pruned per item."""
        starts, ends = training_spans(train)
        rows, positions = span_positions(starts, ends)
        rules = sp.csr_matrix((self.n_items, self.n_items))
        for distance in range(1, self.steps + 1):  # one vectorised pass per distance, summed into the rules
            later = positions[positions - distance >= starts[rows]]
            weight = np.full(len(later), float(decay(self.weighting, torch.tensor(distance))))
            pairs = (dataset.items[later - distance].astype(np.int32), dataset.items[later].astype(np.int32))
            rules = rules + sp.csr_matrix((weight, pairs), shape=(self.n_items, self.n_items))  # duplicates summed
        rules.sum_duplicates()
        keep = self.kept(np.diff(rules.indptr))
        rows, items, values = top_entries(rules, keep)
        offsets = np.zeros(self.n_items + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.n_items), out=offsets[1:])
        self.rule_offsets, self.rule_items = torch.from_numpy(offsets), torch.from_numpy(items.astype(np.int64))
        self.rule_weights = torch.from_numpy(values.astype(np.float64))

    def kept(self, counts: np.ndarray):
        """The rules kept per item out of its `counts` by `pruning` (session-rec's rule): one number,
        or [n_items]."""
        if self.pruning == 0:
            return counts
        if self.pruning < 1:
            return counts - (counts * self.pruning).astype(np.int64)
        return int(self.pruning)

    def full_scores(self, batch: Batch) -> torch.Tensor:
        """[B, n_items]: the rule weights of each history's last item (0 beyond its rules)."""
        last = batch.history.gather(1, (batch.lengths - 1).unsqueeze(-1)).squeeze(-1)  # [B]
        scores = row_scores(self.rule_offsets, self.rule_items, self.rule_weights, last, self.n_items).float()
        return mask_seen(scores, batch.history) if self.exclude_seen else scores


MODEL = ModelSpec("SR", SRSettings, SR,
                  "Sequential rules of Ludewig & Jannach, Evaluation of session-based recommendation algorithms "
                  "(UMUAI 2018)", fitted=True, train_modes=())
