"""SKNN: session-based nearest neighbours (Jannach & Ludewig, "When Recurrent Neural Networks meet
the Neighborhood for Session-Based Recommendation", RecSys 2017; Ludewig & Jannach, "Evaluation of
session-based recommendation algorithms", UMUAI 2018), with session-rec's keys and defaults.

A history is compared with the training sequences (a user's, or a session) as item sets, by cosine:
sim(h, s) = |h & s| / sqrt(|h| |s|). The candidates are the training sequences that share an item
with the history, of which the `sample_size` most recent are kept (0: all), and of those the `k` most
similar are its neighbours (ties: the more recent). An item's score is the sum of the similarities
of the neighbours that hold it. Recency is a sequence's last timestamp where the dataset has times,
else the user id order (the first appearance in the interaction file), see neighbours.sequence_sets.

The training sequences are buffers: their item sets (CSR) and every item's holders cut to the
`sample_size` most recent; a batch is scored in vectorised passes over its candidates
(neighbours.candidates), so the cost per history is bounded by its length x sample_size.
"""
from dataclasses import dataclass

import torch

from ..config import checks as c
from ..config.settings import setting
from .neighbours import SetNeighbours, exclude_seen_setting, nearest, scatter_scores
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
        sets, rows, sequences, owner, entry, slot = self.neighbourhood(history, lengths)
        overlap = torch.bincount(owner[slot >= 0], minlength=len(rows)).float()  # [C] |h & s|
        sizes = (self.entry_offsets[1:] - self.entry_offsets[:-1]).float()  # [S] |s|
        history_sizes = torch.bincount(sets.rows, minlength=len(history)).float()  # [B] |h|
        similarity = overlap / (history_sizes[rows] * sizes[sequences]).sqrt()  # [C]
        weights = torch.zeros_like(similarity)
        keep = nearest(rows, sequences, similarity, self.k)
        weights[keep] = similarity[keep]
        votes = weights[owner] > 0  # [E] entries of the neighbours
        return scatter_scores(len(history), self.n_items, rows[owner[votes]], self.entry_items[entry[votes]],
                              weights[owner[votes]])


MODEL = ModelSpec("SKNN", SKNNSettings, SKNN,
                  "Jannach & Ludewig, When Recurrent Neural Networks meet the Neighborhood (RecSys 2017)",
                  fitted=True, train_modes=())
