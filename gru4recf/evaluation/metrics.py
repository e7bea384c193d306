"""Top-k metrics with RecBole's definitions, for one held-out target per example.

Everything is computed from the target's rank in the top-k list (1-based; 0 when it is not
among the top max(k) items), so a whole evaluation is summed up by how many examples have their
target at each rank (`rank_counts`). Those counts are exact integers: processes of a distributed
run add theirs and get exactly the metrics of one process.
"""
from collections import OrderedDict
from typing import Mapping, Sequence

import torch

METRICS = ("Recall", "MRR", "NDCG", "Hit", "Precision", "MAP")


def target_ranks(scores: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """[B, n_items] scores and [B] target ids -> [B] 1-based rank in the top k (0 = not there)."""
    top = torch.topk(scores, k, dim=-1).indices  # [B, k]
    hits = top == targets.unsqueeze(-1)  # [B, k]
    found = hits.any(dim=-1)
    return torch.where(found, hits.float().argmax(dim=-1) + 1, torch.zeros_like(targets))


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
    """[k + 1] int64: how many examples have their target at rank r (r = 0: not in the top k)."""
    return torch.bincount(ranks.long().cpu(), minlength=k + 1)


def metrics_from_counts(counts: torch.Tensor, metrics: Sequence[str], topk: Sequence[int],
                        decimal_place: int = 4) -> "OrderedDict[str, float]":
    """Mean of every metric at every k over the examples counted by `rank_counts`, keyed like
    RecBole ('recall@10'), rounded."""
    counts = counts.cpu()
    total = int(counts.sum())
    ranks = torch.arange(len(counts))
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
