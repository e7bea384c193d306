"""Optimiser construction by RecBole's `learner` names (the one list of learners)."""
from typing import Iterable

import torch

from .adagrad import AdagradMomentum
from .lazy_adam import LazyAdam

OPTIMISERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad,
              "rmsprop": torch.optim.RMSprop, "sparse_adam": LazyAdam, "adagrad_momentum": AdagradMomentum}
SPARSE_LEARNERS = ("sparse_adam", "adagrad_momentum")  # these want the item table's gradients sparse
WITH_MOMENTUM = ("adagrad_momentum",)  # these read the `momentum` key


def build_optimizer(parameters: Iterable[torch.nn.Parameter], learner: str, learning_rate: float,
                    weight_decay: float, momentum: float = 0.0) -> torch.optim.Optimizer:
    """Optimiser `learner` (a key of OPTIMISERS) over `parameters`."""
    extra = {"momentum": momentum} if learner in WITH_MOMENTUM else {}
    return OPTIMISERS[learner](parameters, lr=learning_rate, weight_decay=weight_decay, **extra)
