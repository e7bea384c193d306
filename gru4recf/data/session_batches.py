"""Session-parallel mini-batches (Hidasi et al. ICLR 2016), GRU4Rec's own training scheme.

Each of `batch_size` rows reads one training sequence (a session; a user's sequence until sessions
are their own sequences) one step at a time; a batch is ONE time step of every row: each row's
current item and the item after it. When a row's sequence ends, the row takes the next sequence
not yet read and its recurrent state is reset; when none is left the row is dropped, so the last
steps have fewer rows. Sequences are taken in dataset order (the authors' code takes sessions in
the order of their start time, and does not shuffle), so an epoch's steps are the same every epoch;
only the shared negatives are drawn anew, from a generator seeded by (seed, epoch), which is all a
resumed run needs to draw the same epoch.
"""
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import torch

from .batching import Candidates, move_to
from .sampler import CandidateSampler, NegativeSampler
from .sequence_batches import Chunk, user_runs
from .split import Examples


@dataclass
class SessionStep:
    """One time step of the rows still reading: `inputs` [B] the current items, `targets` [B] the next
    ones, `carry` [B] the row of the previous step's state each row continues (-1: the row starts a
    new sequence from a zero state; all -1 on an epoch's first step), shared `candidates` or None,
    BPR's `negatives` [B, N] or None."""

    inputs: torch.Tensor
    targets: torch.Tensor
    carry: torch.Tensor
    candidates: Optional[Candidates] = None
    negatives: Optional[torch.Tensor] = None
    weight: float = 1.0

    def to(self, device: torch.device) -> "SessionStep":
        return move_to(self, device)

    @property
    def num_targets(self) -> int:
        return int(self.targets.shape[0])

    def chunk(self) -> Chunk:
        """This step as a one-step chunk ([B, 1] inputs and targets) for `sequence_loss`."""
        negatives = None if self.negatives is None else self.negatives.unsqueeze(1)  # [B, 1, N]
        return Chunk(self.inputs.unsqueeze(1), self.targets.unsqueeze(1), negatives, self.candidates_of_chunk())

    def candidates_of_chunk(self) -> Optional[Candidates]:
        if self.candidates is None:
            return None
        return Candidates(self.candidates.items, self.candidates.log_q, self.candidates.target_log_q.unsqueeze(1))


def session_schedule(counts: np.ndarray, batch_size: int) -> Iterator[tuple]:
    """The rows of every step over sequences with `counts` targets each, read in order by
    `batch_size` rows: per step, (sequence of each row [B], position in it [B], carry [B]) as in
    `SessionStep`. A finished row takes the next unread sequence (rows in order); without one it
    is dropped."""
    n = len(counts)
    rows = min(batch_size, n)
    sequence, position = np.arange(rows), np.zeros(rows, dtype=np.int64)
    carry, next_sequence = np.full(rows, -1, dtype=np.int64), rows
    while len(sequence):
        yield sequence, position, carry
        position = position + 1
        done = np.flatnonzero(position >= counts[sequence])
        taken = min(len(done), n - next_sequence)
        renewed, dropped = done[:taken], done[taken:]
        sequence, carry = sequence.copy(), np.arange(len(sequence))
        sequence[renewed] = np.arange(next_sequence, next_sequence + taken)
        position[renewed] = 0
        carry[renewed] = -1
        next_sequence += taken
        kept = np.ones(len(sequence), dtype=bool)
        kept[dropped] = False
        sequence, position, carry = sequence[kept], position[kept], carry[kept]


class SessionParallelBatches:
    """The steps of session-parallel training over the training sequences of `examples` (each
    user's run of targets, `sequence_batches.user_runs`), `batch_size` rows; negatives shared by
    the rows of a step come from `candidate_sampler`, BPR's `num_negatives` per target from
    `sampler`. One process only (each step depends on the rows of the step before)."""

    def __init__(self, items: np.ndarray, examples: Examples, batch_size: int, seed: int = 0,
                 candidate_sampler: Optional[CandidateSampler] = None, sampler: Optional[NegativeSampler] = None,
                 num_negatives: int = 0) -> None:
        self.items = items
        self.starts, self.counts, _ = user_runs(examples)
        self.batch_size = batch_size
        self.seed = seed
        self.candidate_sampler = candidate_sampler
        self.sampler = sampler
        self.num_negatives = num_negatives
        self.epoch = 0
        self._length: Optional[int] = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self._length is None:  # the schedule is the same every epoch
            self._length = sum(1 for _ in session_schedule(self.counts, self.batch_size))
        return self._length

    def __iter__(self) -> Iterator[SessionStep]:
        rng = np.random.default_rng([self.seed, self.epoch])
        for sequence, position, carry in session_schedule(self.counts, self.batch_size):
            at = self.starts[sequence] + position  # [B] positions of the current items
            inputs, targets = self.items[at], self.items[at + 1]
            candidates = negatives = None
            if self.candidate_sampler is not None:
                candidates = Candidates.draw(self.candidate_sampler, targets, rng)
            if self.sampler is not None:
                negatives = torch.from_numpy(self.sampler.sample(targets, self.num_negatives, rng))
            yield SessionStep(torch.from_numpy(inputs), torch.from_numpy(targets), torch.from_numpy(carry), candidates,
                              negatives)
