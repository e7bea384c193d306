"""Batches of (history, length, target[, negatives]) built on the fly from the sequence arrays.

Only the current batch is ever padded, so memory does not grow with interactions x
MAX_ITEM_LIST_LENGTH. Shuffling and negatives come from a generator seeded by (seed, epoch): an
epoch's batches are the same whether or not the run was interrupted before it.

In a distributed run (`rank` of `world_size` processes) every process draws the same global
batches and keeps its rows of each (`shard_rows`): the shards are disjoint, and every process
takes one step per global batch.
"""
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Iterator, Optional, Tuple

import numpy as np
import torch

from .sampler import CandidateSampler, NegativeSampler
from .split import Examples


def move_to(batch, device: torch.device):
    """A copy of a batch dataclass with every tensor in it (nested batch parts too) on `device`."""
    def move(value):
        if isinstance(value, torch.Tensor):
            return value.to(device, non_blocking=True)
        return move_to(value, device) if is_dataclass(value) else value
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
        return cls(torch.from_numpy(items), torch.from_numpy(log_q[items]),
                   torch.from_numpy(sampler.target_log_q[targets]))

    def rows(self, rows) -> "Candidates":
        """The same shared candidates for the targets of `rows` only."""
        return Candidates(self.items, self.log_q, self.target_log_q[rows])


def shard_rows(weights: np.ndarray, rank: int, world_size: int) -> Tuple[np.ndarray, float]:
    """This process's rows of a global batch whose rows carry `weights` loss terms each (1 per
    example; a sequence's target count), and the weight of its loss.

    Rows are dealt round-robin (rank, rank + world_size, ...), so sorted rows stay sorted. The
    weight is world_size * (this shard's terms) / (the batch's terms): DDP averages gradients over
    processes, so the processes' per-term mean losses times their weights average to the global
    batch's mean loss. A process left without rows (a batch smaller than world_size) gets row 0
    with weight 0: it still takes its step and joins the gradient all-reduce.
    """
    rows = np.arange(rank, len(weights), world_size)
    if world_size == 1:
        return rows, 1.0
    if len(rows) == 0:
        return np.zeros(1, dtype=np.int64), 0.0
    return rows, float(world_size * weights[rows].sum() / weights.sum())


@dataclass
class Batch:
    """One batch. `history` [B, L] is right-padded with 0; `lengths` [B] >= 1; `targets` [B];
    `negatives` [B, N] or None; `candidates` for sampled softmax or None; `weight` multiplies the
    batch's loss (1 in one process; see `shard_rows`; 0 marks a placeholder to skip in evaluation);
    `users` [B] the user id of each example, for models that need it (else None)."""

    history: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    negatives: Optional[torch.Tensor] = None
    candidates: Optional[Candidates] = None
    weight: float = 1.0
    users: Optional[torch.Tensor] = None

    def to(self, device: torch.device) -> "Batch":
        return move_to(self, device)

    def rows(self, part: slice) -> "Batch":
        """The examples `part` of this batch (for scoring a large batch in slices)."""
        pick = lambda value: None if value is None else value[part]
        candidates = None if self.candidates is None else self.candidates.rows(part)
        return Batch(self.history[part], self.lengths[part], self.targets[part], pick(self.negatives), candidates,
                     self.weight, pick(self.users))

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
    """Iterates over examples in batches; shuffled per epoch when `shuffle` is set. `batch_size` is
    the global batch: with `world_size` processes each yields its rows of every batch. `users`
    (the user id of every example), when given, travels with the batches."""

    def __init__(self, items: np.ndarray, examples: Examples, max_len: int, batch_size: int,
                 shuffle: bool = False, seed: int = 0, sampler: Optional[NegativeSampler] = None,
                 num_negatives: int = 0, candidate_sampler: Optional[CandidateSampler] = None,
                 rank: int = 0, world_size: int = 1, users: Optional[np.ndarray] = None) -> None:
        self.items = items
        self.examples = examples
        self.max_len = max_len
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.sampler = sampler
        self.num_negatives = num_negatives
        self.candidate_sampler = candidate_sampler
        self.rank = rank
        self.world_size = world_size
        self.users = users
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
            positives = self.items[targets]
            negatives = candidates = None  # drawn for the global batch: every process's rng stays in step
            if self.sampler is not None:
                negatives = torch.from_numpy(self.sampler.sample(positives, self.num_negatives, rng))
            if self.candidate_sampler is not None:
                candidates = Candidates.draw(self.candidate_sampler, positives, rng)
            rows, weight = shard_rows(np.ones(len(chosen)), self.rank, self.world_size)
            history, lengths = histories(self.items, targets[rows], self.examples.starts[chosen[rows]], self.max_len)
            if self.world_size > 1:
                negatives = None if negatives is None else negatives[rows]
                candidates = None if candidates is None else candidates.rows(rows)
            users = None if self.users is None else torch.from_numpy(self.users[chosen[rows]])
            yield Batch(torch.from_numpy(history), torch.from_numpy(lengths), torch.from_numpy(positives[rows]),
                        negatives, candidates, weight, users)
