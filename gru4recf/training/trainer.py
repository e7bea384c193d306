"""The training loop: epochs, early stopping on the validation metric, the best model kept,
and everything needed to resume a killed run exactly where it stopped."""
import functools
import logging
import math
import random
import time
from collections import OrderedDict
from typing import Callable, Iterable, Mapping, Optional, Tuple

import numpy as np
import torch

from ..data.batching import Batch
from ..distributed import StepRunner
from ..errors import TrainingError
from ..evaluation.evaluator import Evaluator
from ..evaluation.metrics import format_result
from ..models.base import SequentialRecommender
from .checkpoint import Checkpoint, RunCheckpoints
from .modes import TrainMode
from .progress import RunBar
from .results import RunResults
from .settings import TrainingSettings
from .strategies import TrainingStrategy

logger = logging.getLogger("gru4recf")


def capture_rng() -> dict:
    """The states of torch's, numpy's global and python's random generators, as tensors and
    plain numbers (so that a checkpoint holding them loads with weights_only=True)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, python_state, python_gauss = random.getstate()
    rng = {"torch": torch.get_rng_state(),
           "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                     "has_gauss": int(has_gauss), "gauss": float(gauss)},
           "python": {"version": version, "state": torch.tensor(python_state, dtype=torch.int64),
                      "gauss": python_gauss}}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: Mapping) -> None:
    """Puts back the generator states of `capture_rng`."""
    torch.set_rng_state(rng["torch"])
    state = rng["numpy"]
    np.random.set_state(("MT19937", state["keys"].numpy().astype(np.uint32), state["pos"], state["has_gauss"],
                         state["gauss"]))
    state = rng["python"]
    random.setstate((state["version"], tuple(state["state"].tolist()), state["gauss"]))
    if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(rng["cuda"])


class Trainer:
    """Trains a model with early stopping on `valid_metric` (RecBole's rule: the best score is
    kept on ties, training stops after more than `stopping_step` validations without
    improvement). The best weights are kept in memory and restored at the end, so the test
    always uses the best model.

    With `checkpoints`, the best model is saved on every improvement and a 'last' checkpoint
    after every epoch (weights, optimiser, early-stopping counters, RNG states); `restore` reads
    one back so that `fit` continues the run as if it had never stopped (batches are seeded by
    (seed, epoch), so the epoch is all they need).

    `mode` turns each batch into gradients (see `modes`); `runner` runs the model's computations
    (through DDP in a distributed run, where every process trains on its shard of each global
    batch and rank 0 takes the early-stopping decisions); the default trains in this process alone.
    `settings` gives epochs, eval_step, stopping_step and clip_grad_norm. With `results`, a row per
    epoch goes to the run's results folder as the run goes. `on_validation(epoch, score, result)`
    is called after every validation (a hyper-parameter search reports it to its scheduler, which
    may end the trial there)."""

    def __init__(self, model: SequentialRecommender, optimizer: torch.optim.Optimizer, evaluator: Evaluator,
                 settings: TrainingSettings, valid_metric: str, mode: TrainMode, *,
                 device: torch.device = torch.device("cpu"), show_progress: bool = False,
                 checkpoints: Optional[RunCheckpoints] = None, runner: Optional[StepRunner] = None,
                 strategy: Optional[TrainingStrategy] = None, results: Optional[RunResults] = None,
                 on_validation: Optional[Callable[[int, float, dict], None]] = None) -> None:
        self.model = model
        self.on_validation = on_validation
        self.runner = runner if runner is not None else StepRunner()
        self.optimizer = optimizer
        self.evaluator = evaluator
        self.epochs = settings.epochs
        self.valid_metric = valid_metric.lower()
        self.eval_step = settings.eval_step
        self.stopping_step = settings.stopping_step
        self.clip_grad_norm = settings.clip_grad_norm
        self.mode = mode
        self.device = device
        self.show_progress = show_progress
        self.checkpoints = checkpoints
        self.results = results
        self.strategy = strategy or TrainingStrategy("simultaneous", ())
        self._trainable: Optional[frozenset] = None
        self._bar: Optional[RunBar] = None  # the run's progress bar while `fit` runs
        self.best_score = -math.inf
        self.best_result: dict = {}
        self.best_epoch = -1
        self.best_state: Optional[dict] = None
        self.next_epoch = 0
        self.stale = 0
        self.stopped = False

    def train_epoch(self, batches: Iterable[Batch], epoch: int) -> float:
        """One pass over the training batches; returns the summed batch losses (as RecBole logs; of
        the global batches in a distributed run)."""
        self.model.train()
        total = 0.0
        bar = self._bar
        step = 1 / max(len(batches), 1) if bar is not None else 0.0  # batches may be any iterable without a bar
        for index, batch in enumerate(batches):
            batch = batch.to(self.device)
            self._set_trainable(self.strategy.trainable(epoch, index))
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.backward(batch, epoch, index)
            if self.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), **self.clip_grad_norm)
            self.optimizer.step()
            total += loss.item()
            if bar is not None:
                bar.advance(step)
        return self.runner.global_loss(total)

    def backward(self, batch, epoch: int, index: int) -> torch.Tensor:
        """Forward and backward of batch `index` of `epoch` as the training mode does it, the loss
        checked for NaN; returns the (detached) loss. The optimiser step is the caller's."""
        check = functools.partial(self._check_finite, epoch=epoch, index=index)
        return self.mode.backward(self.model, self.runner, batch, check)

    def _set_trainable(self, groups: Optional[frozenset]) -> None:
        """Freezes every parameter group not in `groups` (None: trains all)."""
        if groups == self._trainable:
            return
        for name, params in self.model.parameter_groups().items():
            for param in params:
                param.requires_grad_(groups is None or name in groups)
        self._trainable = groups

    def _check_finite(self, loss: torch.Tensor, epoch: int, index: int) -> None:
        if not torch.isfinite(loss):
            kept = "the best model so far is kept"
            if self.checkpoints is not None:
                kept = (f"the checkpoints of the last good epoch are kept ({self.checkpoints.best_path}, "
                        f"{self.checkpoints.last_path})")
            raise TrainingError(f"loss became {loss.item()} at epoch {epoch}, batch {index + 1}; {kept}. "
                                "Try a lower learning_rate or clip_grad_norm")

    def _validate(self, epoch: int, valid_batches: Iterable[Batch]) -> dict:
        start = time.time()
        result = self.evaluator.evaluate(self.model, valid_batches)
        score = result[self.valid_metric]
        improved = self._record(epoch, score, result)
        self.stale = 0 if improved else self.stale + 1
        self.stopped = self.stale > self.stopping_step
        logger.info(f"epoch {epoch} evaluating [time: {time.time() - start:.2f}s, valid_score: {score:.4f}]")
        logger.info(f"valid result: {format_result(result, self.evaluator.decimal_place)}")
        return result

    def _record(self, epoch: int, score: float, result: dict) -> bool:
        """RecBole's early-stopping bookkeeping; returns whether this epoch is the new best (as rank
        0 decides it, for every process)."""
        if self.runner.context.from_main(score >= self.best_score):
            self.best_score, self.best_result, self.best_epoch = score, result, epoch
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            return True  # the best checkpoint is written with the epoch's 'last' one (`_save_last`)
        return False

    def progress(self) -> dict:
        """The JSON part of the training state: where to continue and the early-stopping counters."""
        return {"next_epoch": self.next_epoch, "stale": self.stale, "stopped": self.stopped,
                "best_score": self.best_score, "best_epoch": self.best_epoch, "best_result": dict(self.best_result),
                "phase": self.strategy.phase}

    def _save_last(self, epoch: int) -> None:
        if self.checkpoints is None:
            return
        training = {"optimizer": self.optimizer.state_dict(), "rng": capture_rng()}
        if self.checkpoints.save_last(self.model.state_dict(), epoch, self.progress(), training, self.best_state):
            logger.info(f"Saving current best: {self.checkpoints.best_path}")

    def restore(self, checkpoint: Checkpoint) -> None:
        """Continues from a 'last' checkpoint: weights, optimiser, best model and counters, and
        the random generators' states (restored last, as nothing may draw from them before `fit`)."""
        progress, training = checkpoint.meta["training"], checkpoint.training
        self.model.load_state_dict(checkpoint.state_dict)
        self.optimizer.load_state_dict(training["optimizer"])
        self.best_state = dict(training["best_state_dict"]) or None  # filled in by `resume.open_resume`
        if self.checkpoints is not None:
            self.checkpoints.resume_from(checkpoint)
        self.next_epoch, self.stale, self.stopped = progress["next_epoch"], progress["stale"], progress["stopped"]
        self.best_score, self.best_epoch = float(progress["best_score"]), progress["best_epoch"]
        self.best_result = OrderedDict(progress["best_result"])
        self.strategy.phase = progress.get("phase", 0)
        restore_rng(training["rng"])

    def fit(self, train_batches: Iterable, valid_batches: Iterable[Batch]) -> Tuple[float, dict]:
        """Trains from `next_epoch` (0, or where `restore` left off) until `epochs` or early
        stopping; returns (best validation score, its metrics)."""
        if self.next_epoch == 0:
            self.strategy.start(self.model)
        logger.info(self.strategy.describe())
        bar = self._bar = RunBar(type(self.model).__name__, self.epochs, self.next_epoch, self.show_progress)
        try:
            self._epochs(train_batches, valid_batches, bar)
        finally:
            bar.close()
            self._bar = None
        self._set_trainable(None)
        return self._finish()

    def _epochs(self, train_batches: Iterable, valid_batches: Iterable[Batch], bar: RunBar) -> None:
        for epoch in range(self.next_epoch, self.epochs):
            if self.stopped:
                break
            train_batches.set_epoch(epoch)
            self.runner.start_epoch(epoch)
            start = time.time()
            loss = self.train_epoch(train_batches, epoch)
            seconds = time.time() - start
            logger.info(f"epoch {epoch} training [time: {seconds:.2f}s, train loss: {loss:.4f}]")
            valid = {}
            if not (epoch + 1) % self.eval_step or epoch + 1 == self.epochs:
                valid = self._validate(epoch, valid_batches)
            self.next_epoch = epoch + 1
            if self.results is not None:  # before the 'last' checkpoint: a resumed run rewrites from its epoch on
                self.results.add_epoch({"epoch": epoch, "train_loss": loss, "train_seconds": round(seconds, 3),
                                        "seconds": round(time.time() - start, 3), **dict(valid),
                                        "best_epoch": self.best_epoch})
            if self.stopped and self.strategy.phase + 1 < self.strategy.phases:
                self._next_phase(epoch)
            self._save_last(epoch)
            if valid and self.on_validation is not None:
                self.on_validation(epoch, valid[self.valid_metric], valid)
            bar.end_epoch(epoch + 1, self._last_allowed_epoch())
            if self.stopped:
                logger.info(f"Finished training, best eval result in epoch {self.best_epoch}")

    def _last_allowed_epoch(self) -> int:
        """How many epochs the run takes at most from here, if the validation score does not improve
        again (all of them while a training strategy has phases to go)."""
        if self.stopped or self.strategy.phase + 1 < self.strategy.phases:
            return self.next_epoch if self.stopped else self.epochs
        return self.next_epoch + (self.stopping_step + 1 - self.stale) * self.eval_step

    def _finish(self) -> Tuple[float, dict]:
        """The best model back in place; (best validation score, its metrics)."""
        if self.strategy.phase + 1 < self.strategy.phases and not self.stopped:
            logger.warning(f"epochs ran out during {self.strategy.describe()}; the later subnets "
                           f"{list(self.strategy.subnets[self.strategy.phase + 1:])} were never trained")
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        return self.best_score, self.best_result

    def _next_phase(self, epoch: int) -> None:
        """Residual training: the current subnet stopped improving, so the next one trains on top
        of the best model so far, with fresh early-stopping patience."""
        self.model.load_state_dict(self.best_state)
        self.strategy.phase += 1
        self.stale, self.stopped = 0, False
        logger.info(f"epoch {epoch}: no improvement for {self.stopping_step + 1} validations; continuing from the "
                    f"best model (epoch {self.best_epoch}) with {self.strategy.describe()}")
