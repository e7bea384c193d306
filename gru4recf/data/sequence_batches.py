"""Whole-sequence training batches: each user's training sequence is read once per epoch.

Every position predicts its next item (the loss is taken at every step), so an n-event history
costs n GRU steps instead of RecBole's ~n * MAX_ITEM_LIST_LENGTH. A batch gathers users until it
holds `batch_size` target positions, keeping the number of optimiser steps per epoch close to the
`augment` mode's. The trainer walks a batch in chunks of MAX_ITEM_LIST_LENGTH steps, carrying the
(detached) hidden state from one chunk to the next.

With `segment_length` S, users' targets are instead cut into segments of S consecutive targets,
each read after a warm-up of up to `warmup` preceding items that carry no loss; segments of all
users are shuffled together, so a batch mixes many users, and every target sees at least
min(position, warmup) items of history from a fresh state, as in evaluation.
"""
from dataclasses import dataclass, replace
from typing import Iterator, Optional

import numpy as np
import torch

from .batching import Candidates, move_to, shard_rows
from .sampler import CandidateSampler, NegativeSampler
from .split import Examples


@dataclass
class Chunk:
    """Steps [c*L, (c+1)*L) of the batch rows still running: `inputs`/`targets` [b, l] (0 = padding),
    `negatives` [b, l, N] or None, `users` [b] each row's user id (for models that need it, else
    None). Rows keep the batch's order (longest first)."""

    inputs: torch.Tensor
    targets: torch.Tensor
    negatives: Optional[torch.Tensor]
    candidates: Optional[Candidates] = None
    users: Optional[torch.Tensor] = None


@dataclass
class SequenceBatch:
    """Users' training sequences (or segments), longest first: `inputs` [B, T] (right-padded with 0),
    `targets` [B, T] the next item at each step (0 where there is none or the step only warms the
    state up), `lengths` [B] steps per row, `negatives` [B, T, N]; `weight` multiplies the batch's
    mean loss (1 in one process; see `batching.shard_rows`); `users` [B] each row's user id, for
    models that need it (else None)."""

    inputs: torch.Tensor
    targets: torch.Tensor
    lengths: torch.Tensor
    negatives: Optional[torch.Tensor] = None
    candidates: Optional[Candidates] = None
    weight: float = 1.0
    users: Optional[torch.Tensor] = None

    def to(self, device: torch.device) -> "SequenceBatch":
        return move_to(self, device)

    @property
    def num_targets(self) -> int:
        return int((self.targets != 0).sum())

    def shard(self, rank: int, world_size: int) -> "SequenceBatch":
        """Process `rank`'s rows of this global batch (round-robin, so still longest first), cut to
        their longest sequence, weighted by their share of the batch's targets."""
        rows, weight = shard_rows((self.targets != 0).sum(dim=1).numpy(), rank, world_size)  # targets per row
        rows = torch.from_numpy(rows)
        return replace(self.rows(rows, int(self.lengths[rows].max())), weight=weight)

    def rows(self, rows: torch.Tensor, width: int) -> "SequenceBatch":
        """The rows `rows` [r] of this batch (in that order), cut to their first `width` steps."""
        negatives = None if self.negatives is None else self.negatives[rows, :width]
        candidates = None if self.candidates is None else self.candidates.rows((rows, slice(0, width)))
        users = None if self.users is None else self.users[rows]
        return SequenceBatch(self.inputs[rows, :width], self.targets[rows, :width], self.lengths[rows], negatives,
                             candidates, self.weight, users)

    def chunks(self, length: int) -> Iterator[Chunk]:
        """Consecutive chunks of `length` steps; a row leaves once its sequence has ended."""
        lengths = self.lengths.cpu()
        for begin in range(0, self.inputs.shape[1], length):
            rows = int((lengths > begin).sum())
            cut = slice(begin, begin + length)
            negatives = None if self.negatives is None else self.negatives[:rows, cut]
            candidates = self.candidates
            if candidates is not None:
                candidates = Candidates(candidates.items, candidates.log_q, candidates.target_log_q[:rows, cut])
            users = None if self.users is None else self.users[:rows]
            yield Chunk(self.inputs[:rows, cut], self.targets[:rows, cut], negatives, candidates, users)


def segments(starts: np.ndarray, counts: np.ndarray, length: int, warmup: int) -> tuple:
    """Cuts each run (inputs from `starts`, `counts` targets) into segments of at most `length`
    targets: (first input, warm-up steps, targets, the run it comes from) per segment, each [S]."""
    per_run = -(-counts // length)  # ceil
    run = np.repeat(np.arange(len(starts)), per_run)
    index = np.arange(len(run)) - np.repeat(np.cumsum(per_run) - per_run, per_run)  # segment j of its run
    offset = index * length  # targets before this segment
    warm = np.minimum(offset, warmup)
    return starts[run] + offset - warm, warm, np.minimum(length, counts[run] - offset), run


def user_runs(examples: Examples) -> tuple:
    """Per user with training examples: (start of the sequence, number of targets, index of its
    first example).

    Training targets of a user are contiguous and follow the sequence start (both splits put
    them first), so a user's run is inputs items[start : start + count] and targets one further.
    """
    starts, first_index, counts = np.unique(examples.starts, return_index=True, return_counts=True)
    first_target = examples.targets[first_index]
    if np.any(first_target != starts + 1):
        raise ValueError("sequence batches need each user's training targets to start after the first item")
    return starts.astype(np.int64), counts.astype(np.int64), first_index


class SequenceBatches:
    """Shuffled per epoch (seeded by (seed, epoch)); batches hold about `batch_size` targets, so
    an epoch has about ceil(targets / batch_size) optimiser steps. `batch_size` is global: with
    `world_size` processes each yields its users of every batch (`SequenceBatch.shard`). `users`
    (the user id of every example), when given, puts each row's user id in its batch."""

    def __init__(self, items: np.ndarray, examples: Examples, batch_size: int, seed: int = 0,
                 sampler: Optional[NegativeSampler] = None, num_negatives: int = 0,
                 candidate_sampler: Optional[CandidateSampler] = None, segment_length: Optional[int] = None,
                 warmup: int = 0, rank: int = 0, world_size: int = 1, users: Optional[np.ndarray] = None) -> None:
        self.items = items
        starts, counts, first = user_runs(examples)
        self.warm = np.zeros(len(starts), dtype=np.int64)
        self.users = None if users is None else users[first]  # per run
        if segment_length is not None:
            starts, self.warm, counts, run = segments(starts, counts, segment_length, warmup)
            self.users = None if self.users is None else self.users[run]
        self.starts, self.counts = starts, counts
        self.batch_size = batch_size
        self.seed = seed
        self.sampler = sampler
        self.num_negatives = num_negatives
        self.candidate_sampler = candidate_sampler
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _groups(self, order: np.ndarray) -> list:
        """Cuts the shuffled users where the running target count passes a multiple of `batch_size`:
        about `batch_size` targets a batch, and as many batches as the augment mode's."""
        ends = np.cumsum(self.counts[order])
        cuts = np.searchsorted(ends, np.arange(self.batch_size, ends[-1], self.batch_size), side="left") + 1
        return [group for group in np.split(order, np.unique(cuts)) if len(group)]

    def __len__(self) -> int:
        return max(1, int(np.ceil(self.counts.sum() / self.batch_size)))

    def _order(self, rng: np.random.Generator) -> np.ndarray:
        """The epoch's order of the rows (users or segments): a uniform shuffle."""
        return rng.permutation(len(self.starts))

    def __iter__(self) -> Iterator[SequenceBatch]:
        rng = np.random.default_rng([self.seed, self.epoch])
        for group in self._groups(self._order(rng)):
            steps = self.warm[group] + self.counts[group]
            group = group[np.argsort(-steps, kind="stable")]
            batch = self._batch(self.starts[group], self.warm[group], self.counts[group], rng)  # global: rng in step
            if self.users is not None:
                batch.users = torch.from_numpy(self.users[group])
            yield batch if self.world_size == 1 else batch.shard(self.rank, self.world_size)

    def _batch(self, starts: np.ndarray, warm: np.ndarray, counts: np.ndarray,
               rng: np.random.Generator) -> SequenceBatch:
        steps = warm + counts
        width = int(steps.max())
        positions = starts[:, None] + np.arange(width)  # [B, T]
        valid = np.arange(width) < steps[:, None]
        inputs = np.where(valid, self.items[np.minimum(positions, len(self.items) - 1)], 0)
        scored = valid & (np.arange(width) >= warm[:, None])  # warm-up steps carry no loss
        targets = np.where(scored, self.items[np.minimum(positions + 1, len(self.items) - 1)], 0)
        negatives = candidates = None
        if self.candidate_sampler is not None:
            candidates = Candidates.draw(self.candidate_sampler, targets, rng)
        if self.sampler is not None:
            drawn = self.sampler.sample(targets[scored], self.num_negatives, rng)
            full = np.zeros(targets.shape + (self.num_negatives,), dtype=np.int64)
            full[scored] = drawn
            negatives = torch.from_numpy(full)
        return SequenceBatch(torch.from_numpy(inputs), torch.from_numpy(targets), torch.from_numpy(steps),
                             negatives, candidates)
