"""Batches of (history, length, target[, negatives]) built on the fly from the sequence arrays.

Only the current batch is ever padded, so memory does not grow with interactions x
MAX_ITEM_LIST_LENGTH. Shuffling and negatives come from a generator seeded by (seed, epoch): an
epoch's batches are the same whether or not the run was interrupted before it.
"""
from dataclasses import dataclass, fields, replace
from typing import Iterator, Optional

import numpy as np
import torch

from .sampler import CandidateSampler, NegativeSampler
from .split import Examples


def move_to(batch, device: torch.device):
    """A copy of a batch dataclass with every tensor in it (nested batch parts too) on `device`."""
    def move(value):
        if value is None:
            return None
        return value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else move_to(value, device)
    return replace(batch, **{f.name: move(getattr(batch, f.name)) for f in fields(batch)})


@dataclass
class Candidates:
    """Shared sampled-softmax candidates of one batch: `items` [S], their log-Q corrections
    `log_q` [S], and the correction of each target `target_log_q` (shaped like the targets)."""

    items: torch.Tensor
    log_q: torch.Tensor
    target_log_q: torch.Tensor

    @classmethod
    def draw(cls, sampler: CandidateSampler, targets: np.ndarray, rng: np.random.Generator) -> "Candidates":
        items = sampler.draw(rng)
        log_q = sampler.log_q
        return cls(torch.from_numpy(items), torch.from_numpy(log_q[items]), torch.from_numpy(log_q[targets]))


@dataclass
class Batch:
    """One batch. `history` [B, L] is right-padded with 0; `lengths` [B] >= 1; `targets` [B];
    `negatives` [B, N] or None; `candidates` for sampled softmax or None."""

    history: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    negatives: Optional[torch.Tensor] = None
    candidates: Optional[Candidates] = None

    def to(self, device: torch.device) -> "Batch":
        return move_to(self, device)

    def __len__(self) -> int:
        return len(self.targets)


def histories(items: np.ndarray, targets: np.ndarray, starts: np.ndarray, max_len: int) -> tuple:
    """Right-padded histories [B, L] (the last `max_len` items before each target) and lengths [B]."""
    begin = np.maximum(starts, targets - max_len)
    lengths = targets - begin
    width = max(int(lengths.max(initial=1)), 1)
    positions = begin[:, None] + np.arange(width)  # [B, L]
    valid = positions < targets[:, None]
    history = np.where(valid, items[np.minimum(positions, len(items) - 1)], 0)
    return history, lengths


class HistoryBatches:
    """Iterates over examples in batches; shuffled per epoch when `shuffle` is set."""

    def __init__(self, items: np.ndarray, examples: Examples, max_len: int, batch_size: int,
                 shuffle: bool = False, seed: int = 0, sampler: Optional[NegativeSampler] = None,
                 num_negatives: int = 0, candidate_sampler: Optional[CandidateSampler] = None) -> None:
        self.items = items
        self.examples = examples
        self.max_len = max_len
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.sampler = sampler
        self.num_negatives = num_negatives
        self.candidate_sampler = candidate_sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Selects the epoch whose shuffle order and negatives the next iteration yields."""
        self.epoch = epoch

    def __len__(self) -> int:
        return (len(self.examples) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[Batch]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.examples)) if self.shuffle else np.arange(len(self.examples))
        for first in range(0, len(order), self.batch_size):
            chosen = order[first:first + self.batch_size]
            targets = self.examples.targets[chosen]
            history, lengths = histories(self.items, targets, self.examples.starts[chosen], self.max_len)
            positives = self.items[targets]
            negatives = candidates = None
            if self.sampler is not None:
                negatives = torch.from_numpy(self.sampler.sample(positives, self.num_negatives, rng))
            if self.candidate_sampler is not None:
                candidates = Candidates.draw(self.candidate_sampler, positives, rng)
            yield Batch(torch.from_numpy(history), torch.from_numpy(lengths), torch.from_numpy(positives),
                        negatives, candidates)
