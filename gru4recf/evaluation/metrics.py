"""Top-k metrics with RecBole's definitions, for one held-out target per example.

Everything is computed from the target's rank among all items (1-based; 0 when it is beyond the
largest k), so a whole evaluation is summed up by how many examples have their target at each
rank (`rank_counts`). Ranks are whole or, with median ties, half numbers; the counts are exact
integers per half rank: processes of a distributed run add theirs and get exactly the metrics of
one process.

Items scoring exactly the target's score are ties; `rank_ties` places the target among them
(the modes of the official GRU4Rec evaluation): 'conservative' behind all of them (rank = items
scoring >= the target), 'standard' ahead of all (1 + items scoring higher), 'median' in the middle.
A model with a few non-zero scores (a neighbourhood baseline) would otherwise be credited with
hits among its zeros. Without ties the three agree with RecBole's top-k list.
"""
from collections import OrderedDict
from typing import Mapping, Sequence

import torch

METRICS = ("Recall", "MRR", "NDCG", "Hit", "Precision", "MAP")
RANK_TIES = ("conservative", "standard", "median")


def target_ranks(scores: torch.Tensor, targets: torch.Tensor, k: int, ties: str = "conservative") -> torch.Tensor:
    """[B, n_items] scores and [B] target ids -> [B] float 1-based rank of each target (a half
    number for median ties), 0 when beyond `k` or when the target's score is not a number.

    Counting over whole rows costs far more than a top-k pass, so the counts come from each row's k
    best scores: when the k-th best is below the target, every item at or above the target is among
    them; when it is above, the target is beyond k whatever the ties. Only rows whose k-th best
    equals the target's score (ties across the cut) are counted over all items."""
    k = min(k, scores.shape[1])
    target = scores.gather(1, targets.unsqueeze(-1))  # [B, 1]
    best = torch.topk(scores, k, dim=-1).values  # [B, k]
    kth = best[:, -1:]
    higher, equal = (best > target).sum(dim=-1), (best == target).sum(dim=-1)  # [B]
    across = (~((kth > target) | (kth < target))).squeeze(-1).nonzero().squeeze(-1)  # ties at the cut (or NaN)
    if len(across):
        row, at = scores[across], target[across]
        higher[across], equal[across] = (row > at).sum(dim=-1), (row == at).sum(dim=-1)
    if ties == "standard":
        ranks = higher + 1.0
    elif ties == "conservative":
        ranks = (higher + equal).float()
    else:
        ranks = higher + 0.5 * (equal - 1) + 1.0
    ranks = ranks.float()  # exact: whole and half numbers far beyond any k (float64 is missing on some devices)
    beyond = (kth > target).squeeze(-1) | (ranks > k) | torch.isnan(target.squeeze(-1))
    return torch.where(beyond, torch.zeros_like(ranks), ranks)


def metric_values(name: str, ranks: torch.Tensor, k: int) -> torch.Tensor:
    """Per-example value of metric `name`@k given ranks from `target_ranks`."""
    ranks = ranks.double()
    hit = ((ranks >= 1) & (ranks <= k)).double()
    if name in ("Recall", "Hit"):
        return hit
    if name == "Precision":
        return hit / k
    if name in ("MRR", "MAP"):  # with one relevant item, average precision is 1 / rank
        return hit / ranks.clamp(min=1)
    if name == "NDCG":  # the ideal DCG of one relevant item is 1
        return hit / torch.log2(ranks.clamp(min=1) + 1)
    raise ValueError(f"unknown metric {name}")


def rank_counts(ranks: torch.Tensor, k: int) -> torch.Tensor:
    """[2k + 1] int64: how many examples have their target at rank h / 2 for h = 0..2k (h = 0: not
    in the top k); half ranks come from median ties."""
    return torch.bincount(torch.round(ranks.double().cpu() * 2).long(), minlength=2 * k + 1)


def metrics_from_counts(counts: torch.Tensor, metrics: Sequence[str], topk: Sequence[int],
                        decimal_place: int = 4) -> "OrderedDict[str, float]":
    """Mean of every metric at every k over the examples counted by `rank_counts`, keyed like
    RecBole ('recall@10'), rounded."""
    counts = counts.cpu()
    total = int(counts.sum())
    ranks = torch.arange(len(counts)) / 2.0
    result = OrderedDict()
    for name in metrics:
        for k in topk:
            value = (metric_values(name, ranks, k) * counts.double()).sum().item() / total if total else 0.0
            result[f"{name.lower()}@{k}"] = round(value, decimal_place)
    return result


def compute_metrics(ranks: torch.Tensor, metrics: Sequence[str], topk: Sequence[int],
                    decimal_place: int = 4) -> "OrderedDict[str, float]":
    """Mean of every metric at every k over examples with target `ranks`, keyed like RecBole, rounded."""
    return metrics_from_counts(rank_counts(ranks, max(topk)), metrics, topk, decimal_place)


def format_result(result: Mapping[str, float], decimal_place: int = 4) -> str:
    """Metrics as people read them: 'recall@10 0.1113  mrr@10 0.0370', every value with the same
    number of decimals (0.0370, not 0.037)."""
    return "  ".join(f"{name} {value:.{decimal_place}f}" for name, value in result.items())
