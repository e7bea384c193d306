"""The mini-batch losses of GRU4Rec's own training (Hidasi et al. ICLR 2016; Hidasi & Karatzoglou,
CIKM 2018): each target is scored against the other targets of its mini-batch and a few shared
negatives drawn from popularity**sample_alpha, so no loss ever scores the whole catalogue.

A batch of P targets gives a score matrix [P, C] (C = P + n_sample columns: the batch's targets,
then the shared samples); row p's own target is column p, and every other column is a negative of
row p (a column holding the same item as the target is not masked, as in the authors' code).
These functions compute the per-row loss from that matrix only; the model builds the matrix.
"""
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

BATCH_LOSSES = ("BPR-max", "TOP1", "TOP1-max", "CE-batch")


@dataclass(frozen=True)
class LossParams:
    """The batch losses' parameters (global keys): `bpreg` weighs BPR-max's score regulariser,
    `elu_param` is the ELU applied to the scores before BPR-max (0: none), `logq` weighs the
    log-Q correction of CE-batch (0: none)."""

    bpreg: float = 1.0
    elu_param: float = 0.5
    logq: float = 0.0


def _negatives_mask(scores: torch.Tensor) -> torch.Tensor:
    """[P, C] True off the diagonal: the columns that are negatives of each row."""
    rows = torch.arange(scores.shape[0], device=scores.device)
    mask = torch.ones_like(scores, dtype=torch.bool)
    mask[rows, rows] = False
    return mask


def _negative_softmax(scores: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """[P, C] softmax of each row's scores over its negatives (0 on the target's column; a row
    without negatives, a lone target and no samples, is all 0)."""
    weights = torch.softmax(scores.masked_fill(~negatives, float("-inf")), dim=1)
    return torch.nan_to_num(weights, nan=0.0)


def _target_scores(scores: torch.Tensor) -> torch.Tensor:
    return torch.diagonal(scores).unsqueeze(1)  # [P, 1]


def bpr_max(scores: torch.Tensor, bpreg: float, elu_param: float) -> torch.Tensor:
    """[P, C] -> [P]: -log sum_j w_j sigmoid(r_target - r_j) + bpreg * sum_j w_j r_j**2, where w is
    the softmax of the negatives' scores r_j (after ELU(elu_param) when elu_param > 0)."""
    if elu_param > 0:
        scores = F.elu(scores, elu_param)
    negatives = _negatives_mask(scores)
    weights = _negative_softmax(scores, negatives)  # [P, C]
    ranking = (torch.sigmoid(_target_scores(scores) - scores) * weights).sum(dim=1)
    loss = -torch.log(ranking + 1e-24) + bpreg * (scores ** 2 * weights).sum(dim=1)
    return loss * negatives.any(dim=1)  # a row without negatives adds nothing


def top1(scores: torch.Tensor) -> torch.Tensor:
    """[P, C] -> [P]: the mean over negatives of sigmoid(r_j - r_target) + sigmoid(r_j**2)."""
    negatives = _negatives_mask(scores)
    terms = torch.sigmoid(scores - _target_scores(scores)) + torch.sigmoid(scores ** 2)  # [P, C]
    return (terms * negatives).sum(dim=1) / negatives.sum(dim=1).clamp(min=1)


def top1_max(scores: torch.Tensor) -> torch.Tensor:
    """[P, C] -> [P]: TOP1's terms weighted by the softmax of the negatives' scores."""
    negatives = _negatives_mask(scores)
    terms = torch.sigmoid(scores - _target_scores(scores)) + torch.sigmoid(scores ** 2)
    return (terms * _negative_softmax(scores, negatives)).sum(dim=1)


def batch_cross_entropy(scores: torch.Tensor, logq: float, log_q: Optional[torch.Tensor]) -> torch.Tensor:
    """[P, C] -> [P]: softmax cross-entropy of each row's target column over all C columns, every
    column's score first lowered by logq * log_q[column] ([C]; the log-Q correction)."""
    if logq > 0 and log_q is not None:
        scores = scores - logq * log_q.unsqueeze(0)
    rows = torch.arange(scores.shape[0], device=scores.device)
    return -torch.log_softmax(scores, dim=1)[rows, rows]


def batch_loss(name: str, scores: torch.Tensor, params: LossParams,
               log_q: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The loss `name` (one of BATCH_LOSSES) of each row of a [P, C] batch score matrix: [P]."""
    if name == "BPR-max":
        return bpr_max(scores, params.bpreg, params.elu_param)
    if name == "TOP1":
        return top1(scores)
    if name == "TOP1-max":
        return top1_max(scores)
    if name == "CE-batch":
        return batch_cross_entropy(scores, params.logq, log_q)
    raise ValueError(f"unknown batch loss {name!r}; expected one of {BATCH_LOSSES}")
