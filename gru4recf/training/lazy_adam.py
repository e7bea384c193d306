"""Adam that updates only the rows a sparse gradient touches: the `sparse_adam` learner.

With a large catalogue and sampled softmax or BPR, one batch touches a few thousand rows of the
item embedding table. Dense Adam would still decay the moments and move every row of the table at
every step (12.8M weights for 200k items), so an epoch would grow with the catalogue as well as
with the data. Here a sparse gradient updates its rows' moments and weights only, as
torch.optim.SparseAdam ("lazy" Adam); a dense gradient gets plain Adam. Unlike SparseAdam (what
RecBole's `sparse_adam` builds, which refuses dense gradients), one optimiser serves the whole
model, so its state is one `state_dict` for checkpoints.
"""
from typing import Callable, Iterable, Optional, Tuple

import torch


class LazyAdam(torch.optim.Optimizer):
    """Adam (L2 `weight_decay` added to the gradient, as torch.optim.Adam) with lazy updates for
    sparse gradients: rows absent from a step's gradient keep their weights and moments. The bias
    correction counts the steps that gave the parameter a gradient, as SparseAdam does."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], torch.Tensor]] = None) -> Optional[torch.Tensor]:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self._update(param, group)
        return loss

    def _update(self, param: torch.nn.Parameter, group: dict) -> None:
        state = self.state[param]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        step = float(state["step"])
        step_size = group["lr"] / (1 - beta1 ** step)
        correction2 = 1 - beta2 ** step
        grad = param.grad
        if grad.is_sparse:
            grad = grad.coalesce()
            rows, values = grad.indices()[0], grad.values()
            if group["weight_decay"]:
                values = values + group["weight_decay"] * param[rows]
            exp_avg = state["exp_avg"][rows].mul_(beta1).add_(values, alpha=1 - beta1)
            exp_avg_sq = state["exp_avg_sq"][rows].mul_(beta2).addcmul_(values, values, value=1 - beta2)
            state["exp_avg"][rows] = exp_avg
            state["exp_avg_sq"][rows] = exp_avg_sq
            denom = (exp_avg_sq / correction2).sqrt_().add_(group["eps"])
            param.index_add_(0, rows, exp_avg / denom, alpha=-step_size)
            return
        if group["weight_decay"]:
            grad = grad.add(param, alpha=group["weight_decay"])
        state["exp_avg"].mul_(beta1).add_(grad, alpha=1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = (state["exp_avg_sq"] / correction2).sqrt_().add_(group["eps"])
        param.addcdiv_(state["exp_avg"], denom, value=-step_size)
