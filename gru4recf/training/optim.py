"""Optimiser construction by RecBole's `learner` names (the one list of learners)."""
from typing import Iterable

import torch

from .lazy_adam import LazyAdam

OPTIMISERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad,
              "rmsprop": torch.optim.RMSprop, "sparse_adam": LazyAdam}
SPARSE_LEARNERS = ("sparse_adam",)  # these want the item table's gradients sparse


def build_optimizer(parameters: Iterable[torch.nn.Parameter], learner: str, learning_rate: float,
                    weight_decay: float) -> torch.optim.Optimizer:
    """Optimiser `learner` (a key of OPTIMISERS) over `parameters`."""
    return OPTIMISERS[learner](parameters, lr=learning_rate, weight_decay=weight_decay)
