"""Adagrad with momentum that updates only the rows a sparse gradient touches: the `adagrad_momentum`
learner, the optimiser of the GRU4Rec authors' code.

Their rule (as its PyTorch code computes it): the accumulator adds the squared gradient, the step is
lr * gradient / sqrt(accumulator + eps) with eps = 1e-6, and with momentum > 0 a velocity
v = momentum * v - step moves the weights (classical, heavy-ball momentum). The item table and the
item bias are looked up sparsely, so a step touches only the rows of the items of its batch: their
accumulators, velocities and weights (a row the batch does not touch keeps its velocity unspent).
This differs from torch.optim.Adagrad (eps added after the square root, no momentum, dense rows).
"""
from typing import Callable, Iterable, Optional

import torch


class AdagradMomentum(torch.optim.Optimizer):
    """Adagrad (accumulator from 0, eps inside the square root) with optional classical momentum;
    sparse gradients update their rows only. `weight_decay` adds L2 to the gradient."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 0.05, momentum: float = 0.0,
                 eps: float = 1e-6, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "eps": eps, "weight_decay": weight_decay})

    def _state(self, parameter: torch.nn.Parameter, momentum: float) -> dict:
        state = self.state[parameter]
        if not state:
            state["sum"] = torch.zeros_like(parameter, memory_format=torch.preserve_format)
            if momentum > 0:
                state["velocity"] = torch.zeros_like(parameter, memory_format=torch.preserve_format)
        return state

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], torch.Tensor]] = None) -> Optional[torch.Tensor]:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum, eps, decay = group["lr"], group["momentum"], group["eps"], group["weight_decay"]
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                state = self._state(parameter, momentum)
                if parameter.grad.is_sparse:
                    self._sparse_step(parameter, state, lr, momentum, eps, decay)
                    continue
                grad = parameter.grad if decay == 0 else parameter.grad.add(parameter, alpha=decay)
                state["sum"].addcmul_(grad, grad)
                step = grad / state["sum"].add(eps).sqrt_() * lr
                if momentum > 0:
                    step = state["velocity"].mul_(momentum).sub_(step)
                    parameter.add_(step)
                else:
                    parameter.sub_(step)
        return loss

    @staticmethod
    def _sparse_step(parameter: torch.nn.Parameter, state: dict, lr: float, momentum: float, eps: float,
                     decay: float) -> None:
        grad = parameter.grad.coalesce()
        rows, values = grad.indices()[0], grad.values()  # [R], [R, ...]
        if decay != 0:
            values = values + decay * parameter[rows]
        total = state["sum"][rows] + values * values
        state["sum"][rows] = total
        step = values / total.add(eps).sqrt_() * lr
        if momentum > 0:
            step = state["velocity"][rows] * momentum - step
            state["velocity"][rows] = step
            parameter[rows] += step
        else:
            parameter[rows] -= step
