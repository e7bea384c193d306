"""Training strategies: which subnet trains when, and that frozen subnets really stay fixed."""
import pytest
import torch

from gru4recf.data.batching import Batch
from gru4recf.errors import ConfigError
from gru4recf.models.registry import build_model
from gru4recf.evaluation.evaluator import Evaluator
from gru4recf.training.modes import AugmentMode
from gru4recf.training.settings import TrainingSettings
from gru4recf.training.strategies import TrainingStrategy
from gru4recf.training.trainer import Trainer
from test_models import N_ITEMS, batch, config, features


def trainer_for(strategy: str, architecture: str = "parallel") -> Trainer:
    torch.manual_seed(0)
    model = build_model("GRU4RecF", config(architecture=architecture), N_ITEMS, features())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    evaluator = Evaluator(["MRR"], [5])
    return Trainer(model, optimizer, evaluator, TrainingSettings(epochs=4), "MRR@5", AugmentMode(5),
                   strategy=TrainingStrategy(strategy, model.subnets))


def snapshot(model) -> dict:
    return {group: [p.detach().clone() for p in params] for group, params in model.parameter_groups().items()}


def changed_groups(model, before: dict) -> set:
    return {group for group, params in model.parameter_groups().items()
            if any(not torch.equal(p, old) for p, old in zip(params, before[group]))}


class Batches(list):
    """A fixed list of batches with the epoch hook the trainer calls."""

    def set_epoch(self, epoch: int) -> None:
        pass


def batches(count: int) -> Batches:
    history, lengths, targets, _ = batch()
    return Batches(Batch(history, lengths, targets) for _ in range(count))


@pytest.mark.parametrize("architecture", ["parallel", "weighted"])
def test_alternating_trains_one_subnet_per_epoch_with_the_output_layer(architecture):
    trainer = trainer_for("alternating", architecture)
    for epoch, trained in [(0, "item"), (1, "feature"), (2, "item")]:
        before = snapshot(trainer.model)
        trainer.train_epoch(batches(2), epoch)
        assert changed_groups(trainer.model, before) == {trained, "output"}


def test_interleaving_switches_subnet_every_batch():
    trainer = trainer_for("interleaving")
    before = snapshot(trainer.model)
    trainer.train_epoch(batches(1), 0)
    assert changed_groups(trainer.model, before) == {"item", "output"}
    before = snapshot(trainer.model)
    trainer.train_epoch(batches(2), 1)  # batch 0 trains the item subnet, batch 1 the feature subnet
    assert changed_groups(trainer.model, before) == {"item", "feature", "output"}


def test_interleaving_second_batch_trains_only_the_feature_subnet():
    trainer = trainer_for("interleaving")
    trainer.train_epoch(batches(1), 0)
    groups = TrainingStrategy("interleaving", trainer.model.subnets).trainable(0, 1)
    assert groups == {"feature", "output"}


def test_residual_trains_the_first_subnet_then_only_the_next_on_top():
    trainer = trainer_for("residual")
    trainer.strategy.start(trainer.model)
    assert all(torch.count_nonzero(p) == 0 for p in trainer.model.heads["feature"].parameters())
    before = snapshot(trainer.model)
    trainer.train_epoch(batches(2), 0)
    assert changed_groups(trainer.model, before) == {"item", "output"}
    trainer.strategy.phase = 1
    before = snapshot(trainer.model)
    trainer.train_epoch(batches(2), 1)
    assert changed_groups(trainer.model, before) == {"feature"}


def test_simultaneous_trains_everything():
    trainer = trainer_for("simultaneous")
    before = snapshot(trainer.model)
    trainer.train_epoch(batches(1), 0)
    assert changed_groups(trainer.model, before) == {"item", "feature", "output"}


def test_residual_moves_to_the_next_subnet_when_the_first_stops_improving():
    trainer = trainer_for("residual")
    trainer.stopping_step = 0
    scores = iter([0.5, 0.4, 0.6, 0.3])
    trainer.evaluator.evaluate = lambda model, data: {"mrr@5": next(scores)}
    trainer.fit(batches(1), [])
    # epoch 0 best, epoch 1 worse -> phase 2 from epoch 0's model; epoch 2 improves; epoch 3 stops it
    assert trainer.strategy.phase == 1 and trainer.best_epoch == 2 and trainer.stopped
    assert trainer.progress()["phase"] == 1  # saved in 'last' checkpoints, so --resume continues the phase
    assert all(p.requires_grad for p in trainer.model.parameters())  # nothing stays frozen after fit


def test_strategy_needs_parallel_subnets():
    with pytest.raises(ConfigError, match="parallel subnets"):
        TrainingStrategy("alternating", ("joint",))
