"""Training modes: how the training examples become batches, and how a batch becomes gradients.

A run chooses its mode once (`train_mode`); the trainer only calls `batches` and `backward`.
- augment (RecBole's procedure): one example per target, its history truncated; `model.loss`.
- sequence: each sequence (or segment) read once with a loss at every step, walked in chunks of
  truncated backpropagation through time; `model.sequence_loss`.
- session_parallel (GRU4Rec's own scheme): each batch row reads one sequence, one step per batch
  and one optimiser step per time step, the state carried from step to step and reset when a row
  takes its next sequence; `model.sequence_loss` over one-step chunks.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Union

import numpy as np
import torch

from ..data.batching import Batch, HistoryBatches
from ..data.sampler import CandidateSampler, NegativeSampler
from ..data.sequence_batches import SequenceBatch, SequenceBatches
from ..data.session_batches import SessionParallelBatches, SessionStep
from ..data.split import Examples
from ..distributed import StepRunner
from ..errors import ConfigError

LossCheck = Callable[[torch.Tensor], None]


@dataclass(frozen=True)
class Sampling:
    """How training batches are drawn: `batch_size` per global batch, shuffled by (seed, epoch),
    negatives from `sampler` (`num_negatives` each) and shared sampled-softmax `candidates`, and
    this process's share (`rank` of `world_size`)."""

    batch_size: int
    seed: int
    sampler: Optional[NegativeSampler] = None
    num_negatives: int = 0
    candidates: Optional[CandidateSampler] = None
    rank: int = 0
    world_size: int = 1


class AugmentMode:
    """One example per target position, its history the last `max_history` items before it."""

    name = "augment"

    def __init__(self, max_history: int) -> None:
        self.max_history = max_history

    def batches(self, items: np.ndarray, examples: Examples, sampling: Sampling,
                users: Optional[np.ndarray] = None) -> HistoryBatches:
        return HistoryBatches(items, examples, self.max_history, sampling.batch_size, shuffle=True, seed=sampling.seed,
                              sampler=sampling.sampler, num_negatives=sampling.num_negatives,
                              candidate_sampler=sampling.candidates, rank=sampling.rank,
                              world_size=sampling.world_size, users=users)

    def backward(self, model: torch.nn.Module, runner: StepRunner, batch: Batch, check: LossCheck) -> torch.Tensor:
        """Backpropagates the batch's weighted mean loss; returns it (detached)."""
        loss = runner(model.loss, batch) * batch.weight
        check(loss)
        loss.backward()
        return loss.detach()


class SequenceMode:
    """Each sequence read once, a loss at every step. With `segment_length`, sequences are cut into
    segments of that many targets, each read after `warmup` items without loss; a batch is walked
    in chunks of `chunk_length` steps (the state crosses chunk edges, gradients do not)."""

    name = "sequence"

    def __init__(self, segment_length: Optional[int], warmup: int, chunk_length: int) -> None:
        self.segment_length = segment_length
        self.warmup = warmup
        self.chunk_length = chunk_length

    def batches(self, items: np.ndarray, examples: Examples, sampling: Sampling,
                users: Optional[np.ndarray] = None) -> SequenceBatches:
        return SequenceBatches(items, examples, sampling.batch_size, sampling.seed, sampling.sampler,
                               sampling.num_negatives, sampling.candidates, segment_length=self.segment_length,
                               warmup=self.warmup, rank=sampling.rank, world_size=sampling.world_size, users=users)

    def backward(self, model: torch.nn.Module, runner: StepRunner, batch: SequenceBatch,
                 check: LossCheck) -> torch.Tensor:
        """Backpropagates the mean loss over every target position of `batch`, chunk by chunk.
        Distributed, only the last chunk's backward all-reduces the gradients the chunks accumulated."""
        total, state = torch.zeros((), device=batch.inputs.device), None
        chunks = list(batch.chunks(self.chunk_length))
        for number, chunk in enumerate(chunks):
            if state is not None:
                state = model.carry(state, chunk.inputs.shape[0])
            with runner.sync(now=number == len(chunks) - 1):
                loss, state = runner(model.sequence_loss, chunk, state)
                loss = loss / batch.num_targets * batch.weight
                check(loss)
                loss.backward()
            total += loss.detach()
        return total


def continued(state, carry: torch.Tensor):
    """The state of the rows of a session step from the previous step's `state` ([layers, B', H],
    or a tuple of such): row i takes row carry[i], a zero state where carry[i] is -1; detached, so
    gradients stop at the step edge (the authors' code detaches the state at every step)."""
    if isinstance(state, tuple):
        return tuple(continued(part, carry) for part in state)
    rows = state.detach().index_select(1, carry.clamp(min=0))  # [layers, B, H]
    return rows * (carry >= 0).to(rows.dtype).view(1, -1, 1)


class SessionParallelMode:
    """Session-parallel training: a batch is one time step of `train_batch_size` rows, each reading
    its own sequence; the state of each row carries to the next step (and is reset when the row
    takes a new sequence). One process only: each step's rows depend on the step before."""

    name = "session_parallel"

    def __init__(self) -> None:
        self.state = None  # the state after the previous step, or None before an epoch's first

    def batches(self, items: np.ndarray, examples: Examples, sampling: Sampling,
                users: Optional[np.ndarray] = None) -> SessionParallelBatches:
        if sampling.world_size > 1:
            raise ConfigError("train_mode 'session_parallel' trains in one process (each step continues the rows "
                              "of the step before); run it without torchrun, or use train_mode 'sequence'")
        return SessionParallelBatches(items, examples, sampling.batch_size, sampling.seed, sampling.candidates,
                                      sampling.sampler, sampling.num_negatives)

    def backward(self, model: torch.nn.Module, runner: StepRunner, batch: SessionStep,
                 check: LossCheck) -> torch.Tensor:
        """Backpropagates the step's mean loss over its rows; keeps the state for the next step."""
        fresh = self.state is None or bool((batch.carry < 0).all())
        state = None if fresh else continued(self.state, batch.carry)
        loss, state = runner(model.sequence_loss, batch.chunk(), state)
        loss = loss / batch.num_targets * batch.weight
        check(loss)
        loss.backward()
        self.state = state
        return loss.detach()


TrainMode = Union[AugmentMode, SequenceMode, SessionParallelMode]


def train_mode(name: str, max_history: int, segment_length: Optional[int] = None,
               warmup_length: Optional[int] = None, chunk_length: Optional[int] = None) -> TrainMode:
    """The mode `name` ('augment', 'sequence' or 'session_parallel'); warm-up and chunk length
    default to `max_history`."""
    if name == "session_parallel":
        return SessionParallelMode()
    if name == "sequence":
        return SequenceMode(segment_length, max_history if warmup_length is None else warmup_length,
                            chunk_length or max_history)
    return AugmentMode(max_history)
