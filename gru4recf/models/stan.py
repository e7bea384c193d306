"""STAN: sequence and time aware neighbourhood (Garg, Gupta, Malhotra, Vig & Shroff, "Sequence and
Time Aware Neighborhood for Session-based Recommendations: STAN", SIGIR 2019), with session-rec's
keys and defaults.

SKNN with three exponential decays. (1) Sequence position weights of the history: the item at
1-based position p of a history of n events weighs w(p) = exp((p - n) / lambda_spw) (a repeated
item weighs by its last position), and sim(h, s) = sum of w over h & s / (sqrt(sum of w^2 over h)
sqrt(|s|)). (2) Recency of the neighbour: sim is multiplied by exp(-(t - t_s) / lambda_snh), t_s
the neighbour's last timestamp, lambda_snh in days (TIME_FIELD in seconds). (3) Item neighbourhood
in the neighbour: a neighbour votes for its item i with sim x exp(-|l(i) - l(i*)| / lambda_inh),
l the last position of an item in the neighbour and i* the shared item that comes last in it.
Candidates are the `sample_size` most recent training sequences sharing an item, the neighbours
their `k` most similar (ties: the more recent). A lambda of 0 turns its decay off.

The time term needs t, the time of the history's last event, which batches do not carry. It is
not needed: exp(-(t - t_s) / lambda) = exp(-(t - t_0) / lambda) exp(-(t_0 - t_s) / lambda) for
any t_0, and the first factor is the same for every neighbour of a history, so it changes neither
which neighbours are the k nearest nor the order of the item scores. Here t_0 is the newest
candidate's last timestamp (per history), which also keeps the factors away from underflow: the
rankings are session-rec's exactly, its scores divided by a positive number per history. A
dataset without times has no time term.
"""
from dataclasses import dataclass

import numpy as np
import torch

from ..config import checks as c
from ..config.settings import setting
from ..data.dataset import SequenceDataset
from ..data.split import Examples
from .neighbours import exclude_seen_setting
from .sequence_neighbours import HistorySets, SequenceSets, SetNeighbours, nearest, scatter_scores
from .spec import Catalogue, ModelSettings, ModelSpec

DAY = 24 * 3600.0


@dataclass(frozen=True)
class STANSettings(ModelSettings):
    """session-rec's STAN keys and defaults."""

    title = "STAN"
    k: int = setting(100, c.integer(1), "Neighbours: the most similar training sequences that score items.")
    sample_size: int = setting(5000, c.integer(0), "Candidates: the most recent sequences sharing an item (0: all).")
    lambda_spw: float = setting(1.02, c.number(0.0), "Decay of history positions, in events (0: off, plain cosine).")
    lambda_snh: float = setting(5.0, c.number(0.0), "Decay of a neighbour's age, in days (0: off).")
    lambda_inh: float = setting(2.05, c.number(0.0), "Decay of a voted item's distance from the shared item in the "
                                                     "neighbour, in events (0: off).")
    exclude_seen: bool = exclude_seen_setting()


class STAN(SetNeighbours):
    """SKNN with position weights in the history, recency of the neighbours and positions in them."""

    def __init__(self, n_items: int, k: int = 100, sample_size: int = 5000, lambda_spw: float = 1.02,
                 lambda_snh: float = 5.0, lambda_inh: float = 2.05, exclude_seen: bool = False) -> None:
        super().__init__(n_items, k, sample_size, exclude_seen)
        self.lambda_spw, self.lambda_snh, self.lambda_inh = lambda_spw, lambda_snh, lambda_inh
        self.register_buffer("sequence_times", torch.zeros(0, dtype=torch.float64))  # [S] last timestamps

    @classmethod
    def build(cls, settings: STANSettings, catalogue: Catalogue) -> "STAN":
        return cls(catalogue.n_items, settings.k, settings.sample_size, settings.lambda_spw, settings.lambda_snh,
                   settings.lambda_inh, settings.exclude_seen)

    def fit_extra(self, dataset: SequenceDataset, train: Examples, sets: SequenceSets) -> None:
        """Each training sequence's last timestamp (none when the dataset has no times)."""
        times = np.zeros(0) if sets.times is None else sets.times
        self.sequence_times = torch.from_numpy(np.ascontiguousarray(times, dtype=np.float64))

    def score(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        sets = HistorySets.of(history, lengths, self.n_items)
        near = self.neighbourhood(sets)
        offset = (sets.last - sets.lengths[sets.rows]).double()  # [H] p - n <= 0
        weight = (offset / self.lambda_spw).exp() if self.lambda_spw else torch.ones_like(offset)  # [H]
        norm = torch.zeros(len(history), dtype=torch.float64, device=history.device)
        norm.index_add_(0, sets.rows, weight ** 2)  # [B] sum of w^2 over h
        overlap = torch.zeros(len(near.rows), dtype=torch.float64, device=history.device)
        overlap.index_add_(0, near.owner, weight[near.slot])  # [C]
        similarity = overlap / (norm[near.rows] * self.sequence_sizes[near.sequences]).sqrt()  # [C]
        if self.lambda_snh and len(self.sequence_times):
            times = self.sequence_times[near.sequences]  # [C]
            newest = torch.full((len(history),), -torch.inf, dtype=torch.float64, device=history.device)
            newest.scatter_reduce_(0, near.rows, times, "amax")  # [B] t_0 of each history
            similarity = similarity * (-(newest[near.rows] - times) / (self.lambda_snh * DAY)).exp()
        shared_last = torch.zeros(len(near.rows), dtype=torch.long, device=history.device)
        shared_last.scatter_reduce_(0, near.owner, near.position, "amax")  # [C] l(i*) in the neighbour
        voter, items, positions = self.votes(near, nearest(near.rows, near.sequences, similarity, self.k))
        values = similarity[voter]
        if self.lambda_inh:
            values = values * (-(positions - shared_last[voter]).abs().double() / self.lambda_inh).exp()
        return scatter_scores(len(history), self.n_items, near.rows[voter], items, values).float()


MODEL = ModelSpec("STAN", STANSettings, STAN,
                  "Garg et al., Sequence and Time Aware Neighborhood for Session-based Recommendations (SIGIR 2019)",
                  fitted=True, train_modes=())
