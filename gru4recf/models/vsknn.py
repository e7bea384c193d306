"""V-SKNN: vector multiplication session-based kNN (Ludewig & Jannach, "Evaluation of session-based
recommendation algorithms", UMUAI 2018), with session-rec's keys and defaults (its VMContextKNN).

The history is a real-valued vector: the item at 1-based position p of a history of n events weighs
w(p, n) by `weighting` (the last occurrence of a repeated item counts), and a training sequence s is
a binary vector, so sim(h, s) = sum of w over the items of h & s, divided by |h| (distinct items).
The candidates are the training sequences sharing an item with the history, the `sample_size` most
recent (0: all), and the neighbours their `k` most similar (ties: the more recent). A neighbour votes
for each of its items with sim x d(step) x (1 + idf_weighting x idf(item)), where step is how many
events back the history's most recent item that the neighbour holds is (1: the last one), d comes
from `weighting_score`, and idf(i) = log(training sequences / training events of i).

Position weights w(p, n): same 1; div p/n; quadratic (p/n)^2; log 1 / log10(n - p + 1.7);
linear max(0, 1 - 0.1 (n - p)). Score decays d(step): same 1; div 1/step; quadratic 1/step^2;
log 1 / log10(step + 1.7); linear max(0, 1 - 0.1 step). session-rec's two linear functions differ:
its position weight is 0 from the 11th position of the history on (it tests the position from the
start), which is read here as intended, 0 from 10 events back; its score decay turns negative past
10 steps, clipped here at 0. Its final division of the scores by their maximum does not change a
ranking and is left out.
"""
from dataclasses import dataclass

import numpy as np
import torch

from ..config import checks as c
from ..config.settings import setting
from ..data.dataset import SequenceDataset
from ..data.split import Examples
from .neighbours import DECAYS, decay, exclude_seen_setting, span_positions, training_spans
from .sequence_neighbours import HistorySets, SequenceSets, SetNeighbours, nearest, scatter_scores
from .spec import Catalogue, ModelSettings, ModelSpec


def position_weight(name: str, position: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """w(p, n) of `weighting` for 1-based positions p in histories of n events (tensors alike)."""
    p, n = position.double(), length.double()
    if name == "same":
        return torch.ones_like(p)
    if name == "div":
        return p / n
    if name == "quadratic":
        return (p / n) ** 2
    if name == "log":
        return 1 / torch.log10(n - p + 1.7)
    return (1 - 0.1 * (n - p)).clamp(min=0.0)  # linear


@dataclass(frozen=True)
class VSKNNSettings(ModelSettings):
    """session-rec's VMContextKNN keys and defaults."""

    title = "VSKNN"
    k: int = setting(100, c.integer(1), "Neighbours: the most similar training sequences that score items.")
    sample_size: int = setting(1000, c.integer(0), "Candidates: the most recent sequences sharing an item (0: all).")
    weighting: str = setting("div", c.one_of(DECAYS),
                             "Weight of a history item by its position (the last weighs most).")
    weighting_score: str = setting("div", c.one_of(DECAYS),
                                   "Decay of a neighbour's votes by how far back its most recent shared item is.")
    idf_weighting: float = setting(0.0, c.number(0.0), "Weight of an item's idf in the votes for it (0: off).")
    exclude_seen: bool = exclude_seen_setting()


class VSKNN(SetNeighbours):
    """Scores items by position-weighted overlaps of the training sequences holding them with the history."""

    def __init__(self, n_items: int, k: int = 100, sample_size: int = 1000, weighting: str = "div",
                 weighting_score: str = "div", idf_weighting: float = 0.0, exclude_seen: bool = False) -> None:
        super().__init__(n_items, k, sample_size, exclude_seen)
        self.weighting, self.weighting_score, self.idf_weighting = weighting, weighting_score, idf_weighting
        self.register_buffer("idf", torch.zeros(n_items, dtype=torch.float64))  # [n_items]

    @classmethod
    def build(cls, settings: VSKNNSettings, catalogue: Catalogue) -> "VSKNN":
        return cls(catalogue.n_items, settings.k, settings.sample_size, settings.weighting, settings.weighting_score,
                   settings.idf_weighting, settings.exclude_seen)

    def fit_extra(self, dataset: SequenceDataset, train: Examples, sets: SequenceSets) -> None:
        """idf(i) = log(training sequences / training events of i); 0 for an item without any."""
        starts, ends = training_spans(train)
        events = np.bincount(dataset.items[span_positions(starts, ends)[1]], minlength=self.n_items)
        idf = np.where(events > 0, np.log(len(starts) / np.maximum(events, 1)), 0.0)
        self.idf = torch.from_numpy(idf)

    def score(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        sets = HistorySets.of(history, lengths, self.n_items)
        near = self.neighbourhood(sets)
        weight = position_weight(self.weighting, sets.last, sets.lengths[sets.rows])  # [H]
        overlap = torch.zeros(len(near.rows), dtype=torch.float64, device=history.device)
        overlap.index_add_(0, near.owner, weight[near.slot])  # [C] sum of w over h & s
        similarity = overlap / sets.sizes[near.rows]  # [C] / |h|
        steps = (sets.lengths[sets.rows] - sets.last + 1)[near.slot]  # [shared] events back, 1 = the last
        nearest_step = torch.full((len(near.rows),), int(history.shape[1]) + 1, device=history.device)
        nearest_step.scatter_reduce_(0, near.owner, steps, "amin")  # [C] the most recent shared item's step
        weights = similarity * decay(self.weighting_score, nearest_step)  # [C]
        voter, items, _ = self.votes(near, nearest(near.rows, near.sequences, similarity, self.k))
        values = weights[voter] * (1 + self.idf_weighting * self.idf[items])
        return scatter_scores(len(history), self.n_items, near.rows[voter], items, values).float()


MODEL = ModelSpec("VSKNN", VSKNNSettings, VSKNN,
                  "V-SKNN of Ludewig & Jannach, Evaluation of session-based recommendation algorithms (UMUAI 2018)",
                  fitted=True, train_modes=())
