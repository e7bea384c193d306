"""The training loop: epochs, early stopping on the validation metric, the best model kept."""
import logging
import math
import time
from pathlib import Path
from typing import Iterable, Mapping, Optional, Tuple, Union

import torch
from tqdm import tqdm

from ..data.batching import Batch, HistoryBatches
from ..data.sequence_batches import SequenceBatch, SequenceBatches
from ..errors import TrainingError
from ..models.base import SequentialRecommender
from .checkpoint import save_checkpoint
from .evaluator import Evaluator

logger = logging.getLogger("gru4recf")


def _format(result: Mapping[str, float]) -> str:
    return "    ".join(f"{name} : {value}" for name, value in result.items())


class Trainer:
    """Trains a model with early stopping on `valid_metric` (RecBole's rule: the best score is
    kept on ties, training stops after more than `stopping_step` validations without
    improvement). The best weights are kept in memory, saved to `checkpoint_path` when given,
    and restored at the end, so the test always uses the best model."""

    def __init__(self, model: SequentialRecommender, optimizer: torch.optim.Optimizer, evaluator: Evaluator,
                 epochs: int, valid_metric: str, eval_step: int = 1, stopping_step: int = 10,
                 clip_grad_norm: Optional[Mapping] = None, device: torch.device = torch.device("cpu"),
                 show_progress: bool = False, checkpoint_path: Optional[Path] = None,
                 checkpoint_meta: Optional[Mapping] = None, chunk_length: int = 50) -> None:
        self.model = model
        self.optimizer = optimizer
        self.evaluator = evaluator
        self.epochs = epochs
        self.valid_metric = valid_metric.lower()
        self.eval_step = eval_step
        self.stopping_step = stopping_step
        self.clip_grad_norm = clip_grad_norm
        self.device = device
        self.show_progress = show_progress
        self.checkpoint_path = checkpoint_path
        self.checkpoint_meta = dict(checkpoint_meta or {})
        self.chunk_length = chunk_length
        self.best_score = -math.inf
        self.best_result: dict = {}
        self.best_epoch = -1
        self.best_state: Optional[dict] = None

    def train_epoch(self, batches: Iterable[Batch], epoch: int) -> float:
        """One pass over the training batches; returns the summed batch losses (as RecBole logs)."""
        self.model.train()
        total = 0.0
        bar = tqdm(batches, desc=f"Train {epoch:>4}", leave=False, disable=not self.show_progress)
        for index, batch in enumerate(bar):
            batch = batch.to(self.device)
            self.optimizer.zero_grad(set_to_none=True)
            if isinstance(batch, SequenceBatch):
                loss = self._sequence_backward(batch, epoch, index)
            else:
                loss = self.model.loss(batch.history, batch.lengths, batch.targets, batch.negatives,
                                       batch.candidates)
                self._check_finite(loss, epoch, index)
                loss.backward()
            if self.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), **self.clip_grad_norm)
            self.optimizer.step()
            total += loss.item()
        return total

    @staticmethod
    def _check_finite(loss: torch.Tensor, epoch: int, index: int) -> None:
        if not torch.isfinite(loss):
            raise TrainingError(f"loss became {loss.item()} at epoch {epoch}, batch {index + 1}; the best "
                                "model so far is kept. Try a lower learning_rate or clip_grad_norm")

    def _sequence_backward(self, batch: SequenceBatch, epoch: int, index: int) -> torch.Tensor:
        """Backpropagates the mean loss over every target position of `batch`, chunk by chunk
        (truncated BPTT: the state crosses chunk edges, gradients do not)."""
        total, hidden = torch.zeros((), device=self.device), None
        for chunk in batch.chunks(self.chunk_length):
            if hidden is not None:
                hidden = self.model.carry(hidden, chunk.inputs.shape[0])
            outputs, hidden = self.model.encode_steps(chunk.inputs, hidden)
            loss = self.model.step_loss(outputs, chunk.targets, chunk.negatives, chunk.candidates) / batch.num_targets
            self._check_finite(loss, epoch, index)
            loss.backward()
            total += loss.detach()
        return total

    def _record(self, epoch: int, score: float, result: dict) -> bool:
        """RecBole's early-stopping bookkeeping; returns whether this epoch is the new best."""
        if score >= self.best_score:
            self.best_score, self.best_result, self.best_epoch = score, result, epoch
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            if self.checkpoint_path is not None:
                meta = dict(self.checkpoint_meta, epoch=epoch, best_valid_score=score, best_valid_result=result)
                save_checkpoint(self.checkpoint_path, self.best_state, meta)
            return True
        return False

    def fit(self, train_batches: Union[HistoryBatches, SequenceBatches], valid_batches: Iterable[Batch]) -> Tuple[float, dict]:
        """Trains until `epochs` or early stopping; returns (best validation score, its metrics)."""
        stale = 0
        for epoch in range(self.epochs):
            train_batches.set_epoch(epoch)
            start = time.time()
            loss = self.train_epoch(train_batches, epoch)
            logger.info(f"epoch {epoch} training [time: {time.time() - start:.2f}s, train loss: {loss:.4f}]")
            if (epoch + 1) % self.eval_step and epoch + 1 < self.epochs:
                continue
            start = time.time()
            result = self.evaluator.evaluate(self.model, valid_batches)
            score = result[self.valid_metric]
            improved = self._record(epoch, score, result)
            stale = 0 if improved else stale + 1
            logger.info(f"epoch {epoch} evaluating [time: {time.time() - start:.2f}s, valid_score: {score:.4f}]")
            logger.info(f"valid result: {_format(result)}")
            if improved and self.checkpoint_path is not None:
                logger.info(f"Saving current best: {self.checkpoint_path}")
            if stale > self.stopping_step:
                logger.info(f"Finished training, best eval result in epoch {self.best_epoch}")
                break
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        return self.best_score, self.best_result
