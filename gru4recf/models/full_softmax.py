"""Softmax cross-entropy over the whole catalogue, with its gradient built in row chunks.

`F.cross_entropy(output @ table.t(), targets)` forms the [P, N] scores, then a log-softmax of the
same size and its gradient, each read and written in full: on a CPU thread most of that time goes
to memory rather than arithmetic. `full_cross_entropy` computes the same loss a chunk of rows at a
time, small enough for the chunk's scores to stay in cache, and forms each chunk's gradient there
and then (softmax minus one-hot, times the table and the representations), so backward only scales
it. At ml-100k's shapes (2,048 targets, 1,683 items, 64 dimensions, one thread) a step takes 27-28 ms
against 38-41 ms (`python benchmarks/full_softmax.py --num_threads=1`, two runs). The loss and the
gradients are the same up to float rounding.
"""
from typing import Optional

import torch

CHUNK_ELEMENTS = 1 << 18  # scores per chunk on a CPU: 2^17-2^18 were fastest on ml-100k, the whole batch 50% slower


def full_cross_entropy(output: torch.Tensor, table: torch.Tensor, bias: Optional[torch.Tensor],
                       targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The CE loss of the scores `output` [P, E] @ `table` [N, E].t() (+ `bias`, N values in any
    shape) against `targets` [P], every column a class; `reduction` 'mean' or 'sum'."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', not {reduction!r}")
    return FullCrossEntropy.apply(output, table, bias, targets, reduction == "mean", torch.is_grad_enabled())


class FullCrossEntropy(torch.autograd.Function):
    """`full_cross_entropy`; its backward scales the gradients formed in forward (no double
    backward)."""

    @staticmethod
    def forward(ctx, output: torch.Tensor, table: torch.Tensor, bias: Optional[torch.Tensor],
                targets: torch.Tensor, mean: bool, grad_enabled: bool) -> torch.Tensor:
        wants = ctx.needs_input_grad if grad_enabled else (False, False, False)  # none under no_grad
        grads = [torch.empty_like(output) if wants[0] else None, torch.zeros_like(table) if wants[1] else None,
                 torch.zeros(len(table), dtype=table.dtype, device=table.device)
                 if bias is not None and wants[2] else None]
        flat_bias = None if bias is None else bias.reshape(-1)  # [N]
        rows = max(1, len(output)) if output.is_cuda else max(16, CHUNK_ELEMENTS // max(1, len(table)))
        total = output.new_zeros(())
        for start in range(0, len(output), rows):
            part, wanted = output[start:start + rows], targets[start:start + rows]  # [r, E], [r]
            scores = part @ table.t()  # [r, N]
            if flat_bias is not None:
                scores += flat_bias
            top = scores.amax(dim=1, keepdim=True)  # [r, 1]
            picked = scores.gather(1, wanted.unsqueeze(1))  # [r, 1]
            probs = scores.sub_(top).exp_()  # [r, N], unnormalised
            norm = probs.sum(dim=1, keepdim=True)  # [r, 1]
            total += (norm.log() + top - picked).sum()
            if any(g is not None for g in grads):
                probs.div_(norm)[torch.arange(len(wanted), device=wanted.device), wanted] -= 1.0  # d loss / d scores
                _accumulate(grads, probs, part, table, start)
        scale = (1.0 / len(output) if len(output) else float("nan")) if mean else 1.0  # as F.cross_entropy
        ctx.grads, ctx.scale, ctx.bias_shape = grads, scale, None if bias is None else bias.shape
        return total * scale

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad_output, grad_table, grad_bias = ctx.grads
        factor = grad * ctx.scale
        scaled = [None if g is None else g * factor for g in (grad_output, grad_table, grad_bias)]
        if scaled[2] is not None:
            scaled[2] = scaled[2].reshape(ctx.bias_shape)
        return scaled[0], scaled[1], scaled[2], None, None, None


def _accumulate(grads, dscores: torch.Tensor, part: torch.Tensor, table: torch.Tensor, start: int) -> None:
    """Adds one chunk's gradients: `dscores` [r, N] of the loss by its scores, `part` [r, E] its rows."""
    grad_output, grad_table, grad_bias = grads
    if grad_output is not None:
        torch.mm(dscores, table, out=grad_output[start:start + len(part)])
    if grad_table is not None:
        grad_table.addmm_(dscores.t(), part)
    if grad_bias is not None:
        grad_bias += dscores.sum(dim=0)
