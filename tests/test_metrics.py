"""Metrics against hand-computed values (target at rank 1, at k, at k+1, ties)."""
import math

import pytest
import torch

from gru4recf.evaluation.metrics import compute_metrics, target_ranks


def scores_with_target_at(rank: int, n_items: int = 20) -> tuple:
    """Scores where item 7 is the target and exactly rank-1 items score higher."""
    scores = torch.arange(n_items, 0, -1, dtype=torch.float)  # item 0 highest, then 1, ...
    order = [i for i in range(n_items) if i != 7]
    order.insert(rank - 1, 7)
    ranked = torch.empty(n_items)
    ranked[torch.tensor(order)] = scores
    return ranked.unsqueeze(0), torch.tensor([7])


@pytest.mark.parametrize("rank", [1, 3, 10, 11])
def test_rank_of_target_in_top_k(rank):
    scores, target = scores_with_target_at(rank)
    expected = rank if rank <= 10 else 0
    assert target_ranks(scores, target, 10).tolist() == [expected]


def test_metrics_hand_computed_for_rank_1_k_and_k_plus_1():
    ranks = torch.tensor([1, 10, 11])  # 11 means not in the top 10: target_ranks would give 0
    ranks = torch.where(ranks <= 10, ranks, torch.zeros_like(ranks))
    result = compute_metrics(ranks, ["Recall", "MRR", "NDCG", "Hit", "Precision", "MAP"], [10], decimal_place=10)
    assert result["recall@10"] == pytest.approx(2 / 3)
    assert result["hit@10"] == pytest.approx(2 / 3)
    assert result["mrr@10"] == pytest.approx((1 + 1 / 10) / 3)
    assert result["map@10"] == pytest.approx((1 + 1 / 10) / 3)
    assert result["ndcg@10"] == pytest.approx((1 + 1 / math.log2(11)) / 3)
    assert result["precision@10"] == pytest.approx((1 / 10 + 1 / 10) / 3)


def test_several_cutoffs_use_the_same_ranks():
    ranks = torch.tensor([3, 0, 5])
    result = compute_metrics(ranks, ["Hit", "NDCG"], [1, 3, 5], decimal_place=10)
    assert list(result) == ["hit@1", "hit@3", "hit@5", "ndcg@1", "ndcg@3", "ndcg@5"]
    assert result["hit@1"] == 0 and result["hit@3"] == pytest.approx(1 / 3) and result["hit@5"] == pytest.approx(2 / 3)
    assert result["ndcg@5"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(6)) / 3)


def test_results_are_rounded_to_the_decimal_place():
    result = compute_metrics(torch.tensor([3]), ["MRR"], [10], decimal_place=4)
    assert result["mrr@10"] == 0.3333


# Row 0: the target (item 3, score 2) has one item above it (5) and two others tied with it (1, 4).
# Row 1: the target (item 0, score 0) ties with every other item but item 2.
TIES = torch.tensor([[0.0, 2.0, 1.0, 2.0, 2.0, 5.0], [0.0, 0.0, 3.0, 0.0, 0.0, 0.0]])
TIE_TARGETS = torch.tensor([3, 0])


@pytest.mark.parametrize("ties, expected", [
    ("standard", [2.0, 2.0]),        # 1 + items strictly higher
    ("conservative", [4.0, 6.0]),    # items scoring >= the target, itself included
    ("median", [3.0, 4.0]),          # 1 + higher + (tied others) / 2
])
def test_tie_modes_on_a_hand_built_score_matrix(ties, expected):
    assert target_ranks(TIES, TIE_TARGETS, 10, ties).tolist() == expected


def test_median_ties_give_half_ranks_that_the_metrics_use_exactly():
    scores = torch.tensor([[1.0, 1.0, 0.0]])  # the target (0) tied with item 1: rank 1.5
    ranks = target_ranks(scores, torch.tensor([0]), 5, "median")
    assert ranks.tolist() == [1.5]
    result = compute_metrics(ranks, ["MRR", "NDCG", "Hit"], [1, 5], decimal_place=10)
    assert result["mrr@5"] == pytest.approx(1 / 1.5) and result["ndcg@5"] == pytest.approx(1 / math.log2(2.5))
    assert result["hit@1"] == 0.0 and result["hit@5"] == 1.0  # 1.5 is beyond k = 1


def test_a_rank_beyond_k_and_a_score_that_is_not_a_number_count_as_misses():
    assert target_ranks(TIES, TIE_TARGETS, 3, "conservative").tolist() == [0.0, 0.0]
    scores = torch.tensor([[float("nan"), 1.0, 2.0]])
    for ties in ("standard", "conservative", "median"):
        assert target_ranks(scores, torch.tensor([0]), 3, ties).tolist() == [0.0]


def brute_force_ranks(scores, targets, k: int, ties: str) -> list:
    """Each target's rank by counting every item of its row, one row at a time."""
    out = []
    for row, target in zip(scores.tolist(), targets.tolist()):
        t = row[target]
        higher, equal = sum(v > t for v in row), sum(v == t for v in row)
        rank = {"standard": higher + 1, "conservative": higher + equal, "median": higher + (equal - 1) / 2 + 1}[ties]
        out.append(float(rank) if rank <= k else 0.0)
    return out


@pytest.mark.parametrize("ties", ["standard", "conservative", "median"])
@pytest.mark.parametrize("k", [1, 3, 5, 12])
def test_ranks_with_many_ties_match_counting_every_item(ties, k):
    torch.manual_seed(1)
    scores, targets = torch.randint(0, 4, (200, 12)).float(), torch.randint(0, 12, (200,))  # ties everywhere
    assert target_ranks(scores, targets, k, ties).tolist() == brute_force_ranks(scores, targets, k, ties)


def test_without_ties_every_mode_gives_the_position_in_the_top_k_list():
    torch.manual_seed(0)
    scores, targets = torch.randn(50, 40), torch.randint(0, 40, (50,))
    top = torch.topk(scores, 10, dim=-1).indices
    hits = top == targets.unsqueeze(-1)
    expected = torch.where(hits.any(-1), hits.float().argmax(-1) + 1.0, torch.zeros(50))
    for ties in ("standard", "conservative", "median"):
        assert torch.equal(target_ranks(scores, targets, 10, ties), expected)


def test_missing_target_scores_zero_everywhere():
    result = compute_metrics(torch.tensor([0, 0]), ["Recall", "MRR", "NDCG", "Precision"], [10])
    assert set(result.values()) == {0.0}


def test_evaluation_in_memory_capped_slices_gives_the_same_metrics():
    from gru4recf.data.batching import Batch
    from gru4recf.models.gru4rec import GRU4Rec
    from gru4recf.evaluation.evaluator import Evaluator

    torch.manual_seed(0)
    model = GRU4Rec(n_items=30, embedding_size=8, hidden_size=8)
    history = torch.randint(1, 30, (20, 6))
    batch = Batch(history, torch.randint(1, 7, (20,)), torch.randint(1, 30, (20,)))
    whole = Evaluator(["Hit", "MRR"], [5, 10]).ranks(model, [batch])
    sliced = Evaluator(["Hit", "MRR"], [5, 10], max_scores=3 * 30).ranks(model, [batch])  # 3 rows at a time
    assert torch.equal(whole, sliced)
