"""SKNN: session-based nearest neighbours (Jannach & Ludewig, "When Recurrent Neural Networks meet
the Neighborhood for Session-Based Recommendation", RecSys 2017; Ludewig & Jannach, "Evaluation of
session-based recommendation algorithms", UMUAI 2018), with session-rec's keys and defaults.

A history is compared with the training sequences (a user's, or a session) as item sets, by cosine:
sim(h, s) = |h & s| / sqrt(|h| |s|). The candidates are the training sequences that share an item
with the history, of which the `sample_size` most recent are kept (0: all), and of those the `k` most
similar are its neighbours (ties: the more recent). An item's score is the sum of the similarities
of the neighbours that hold it. Recency is a sequence's last timestamp where the dataset has times,
else the user id order (the first appearance in the interaction file), see sequence_neighbours.sequence_sets.

The training sequences are buffers: their item sets (CSR) and every item's holders cut to the
`sample_size` most recent; a batch is scored in vectorised passes over its candidates
(sequence_neighbours), so the cost per history is bounded by its length x sample_size.
"""
from dataclasses import dataclass

import torch

from ..config import checks as c
from ..config.settings import setting
from .neighbours import exclude_seen_setting
from .sequence_neighbours import HistorySets, SetNeighbours, nearest, scatter_scores
from .spec import Catalogue, ModelSettings, ModelSpec


@dataclass(frozen=True)
class SKNNSettings(ModelSettings):
    """session-rec's SKNN (ContextKNN) keys and defaults: cosine similarity, recent sampling."""

    title = "SKNN"
    k: int = setting(100, c.integer(1), "Neighbours: the most similar training sequences that score items.")
    sample_size: int = setting(500, c.integer(0), "Candidates: the most recent sequences sharing an item (0: all).")
    exclude_seen: bool = exclude_seen_setting()


class SKNN(SetNeighbours):
    """Scores items by the cosine similarity of the training sequences that hold them to the history."""

    @classmethod
    def build(cls, settings: SKNNSettings, catalogue: Catalogue) -> "SKNN":
        return cls(catalogue.n_items, settings.k, settings.sample_size, settings.exclude_seen)

    def score(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        sets = HistorySets.of(history, lengths, self.n_items)
        near = self.neighbourhood(sets)
        overlap = torch.bincount(near.owner, minlength=len(near.rows)).float()  # [C] |h & s|
        similarity = overlap / (sets.sizes[near.rows] * self.sequence_sizes[near.sequences]).float().sqrt()  # [C]
        voter, items, _ = self.votes(near, nearest(near.rows, near.sequences, similarity, self.k))
        return scatter_scores(len(history), self.n_items, near.rows[voter], items, similarity[voter])


MODEL = ModelSpec("SKNN", SKNNSettings, SKNN,
                  "Jannach & Ludewig, When Recurrent Neural Networks meet the Neighborhood (RecSys 2017)",
                  fitted=True, train_modes=())
