"""Training strategies for models with parallel subnets (Hidasi et al., RecSys 2016).

A strategy says which of the model's parameter groups (its subnets, plus `output`: the item
embedding table that scores items) are trained at each step; the others are frozen for that
step (`requires_grad` off, so they get no gradient and the optimiser leaves them untouched).

- simultaneous: every group, every step (RecBole's GRU4RecF).
- alternating: epoch e trains subnet e mod n, and the output layer with it.
- interleaving: as alternating, but switching subnet every mini-batch (batch b of each epoch
  trains subnet b mod n).
- residual: the subnets are trained one after another, each until early stopping; every later
  subnet's output layer starts at zero and it is trained on top of the fixed output of the ones
  before it (its output is added to theirs); only the first trains the output layer.
"""
from typing import FrozenSet, Optional, Sequence

from torch import nn

from ..errors import ConfigError

STRATEGIES = ("simultaneous", "alternating", "residual", "interleaving")


class TrainingStrategy:
    """Which parameter groups train at (epoch, batch) under strategy `name`, for a model whose
    parallel subnets are `subnets` (in the order they take turns)."""

    def __init__(self, name: str, subnets: Sequence[str]) -> None:
        if name not in STRATEGIES:
            raise ConfigError(f"unknown training_strategy '{name}'; expected one of {', '.join(STRATEGIES)}")
        if name != "simultaneous" and len(subnets) < 2:
            raise ConfigError(f"training_strategy '{name}' needs a model with parallel subnets; this one has "
                              f"{len(subnets)}")
        self.name = name
        self.subnets = tuple(subnets)
        self.phase = 0

    @property
    def freezes(self) -> bool:
        """Whether some parameters go without a gradient in some steps."""
        return self.name != "simultaneous"

    @property
    def phases(self) -> int:
        """Residual training has one phase per subnet; the other strategies one phase in all."""
        return len(self.subnets) if self.name == "residual" else 1

    def trainable(self, epoch: int, batch: int) -> Optional[FrozenSet[str]]:
        """The groups trained at this step; None means all of them."""
        if self.name == "simultaneous":
            return None
        if self.name == "residual":
            return frozenset({self.subnets[self.phase]} | ({"output"} if self.phase == 0 else set()))
        turn = epoch if self.name == "alternating" else batch
        return frozenset({self.subnets[turn % len(self.subnets)], "output"})

    def start(self, model: nn.Module) -> None:
        """Prepares a freshly built model: residual training silences every subnet but the first."""
        if self.name == "residual":
            for subnet in self.subnets[1:]:
                model.silence(subnet)

    def describe(self) -> str:
        """One log line saying what trains now."""
        if self.name == "residual":
            return f"residual training, phase {self.phase + 1}/{self.phases}: subnet '{self.subnets[self.phase]}'"
        return f"training strategy: {self.name}"
