"""The batch losses (BPR-max, TOP1, TOP1-max, CE-batch) on tiny score matrices, against their formulas
written out here element by element, and how a model builds the matrix it hands them."""
import math

import numpy as np
import pytest
import torch

from gru4recf.data.batching import Batch, Candidates
from gru4recf.data.sampler import CandidateSampler
from gru4recf.models.gru4rec import GRU4Rec
from gru4recf.models.losses import LossParams, batch_cross_entropy, batch_loss, bpr_max, top1, top1_max

# Two targets (columns 0 and 1) and one shared sample (column 2).
SCORES = [[2.0, 0.0, 1.0],
          [1.0, 3.0, -1.0]]


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def negatives_of(row):
    return [j for j in range(len(SCORES[row])) if j != row]


def softmax_weights(values):
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def elu(x, alpha):
    return x if x > 0 else alpha * (math.exp(x) - 1)


def expected_bpr_max(row, bpreg, alpha):
    scores = [elu(s, alpha) if alpha > 0 else s for s in SCORES[row]]
    negatives = [scores[j] for j in negatives_of(row)]
    weights = softmax_weights(negatives)
    ranking = sum(w * sigmoid(scores[row] - s) for w, s in zip(weights, negatives))
    return -math.log(ranking) + bpreg * sum(w * s * s for w, s in zip(weights, negatives))


def expected_top1(row, weighted):
    negatives = [SCORES[row][j] for j in negatives_of(row)]
    terms = [sigmoid(s - SCORES[row][row]) + sigmoid(s * s) for s in negatives]
    weights = softmax_weights(negatives) if weighted else [1 / len(negatives)] * len(negatives)
    return sum(w * t for w, t in zip(weights, terms))


def expected_ce(row, logq, log_q):
    logits = [s - logq * q for s, q in zip(SCORES[row], log_q)]
    return -(logits[row] - math.log(sum(math.exp(v) for v in logits)))


def tensor():
    return torch.tensor(SCORES, dtype=torch.float64)


@pytest.mark.parametrize("bpreg, alpha", [(0.0, 0.0), (0.5, 0.0), (1.5, 1.0)])
def test_bpr_max_is_its_formula(bpreg, alpha):
    expected = [expected_bpr_max(row, bpreg, alpha) for row in range(2)]
    assert bpr_max(tensor(), bpreg, alpha).tolist() == pytest.approx(expected, rel=1e-9)


def test_top1_is_the_mean_over_negatives_and_top1_max_its_softmax_weighting():
    assert top1(tensor()).tolist() == pytest.approx([expected_top1(row, False) for row in range(2)], rel=1e-9)
    assert top1_max(tensor()).tolist() == pytest.approx([expected_top1(row, True) for row in range(2)], rel=1e-9)


@pytest.mark.parametrize("logq", [0.0, 1.0, 0.5])
def test_batch_cross_entropy_is_softmax_over_every_column_after_the_log_q_correction(logq):
    log_q = [math.log(30), math.log(5), 0.5 * math.log(30)]
    expected = [expected_ce(row, logq, log_q) for row in range(2)]
    computed = batch_cross_entropy(tensor(), logq, torch.tensor(log_q, dtype=torch.float64))
    assert computed.tolist() == pytest.approx(expected, rel=1e-9)


def test_a_lone_target_without_negatives_adds_nothing():
    lone = torch.tensor([[1.5]])
    for name in ("BPR-max", "TOP1", "TOP1-max", "CE-batch"):
        assert batch_loss(name, lone, LossParams()).tolist() == [0.0], name


def test_a_model_scores_the_batchs_targets_then_the_shared_samples_with_its_item_bias():
    """The matrix handed to the loss: row p's representation against every target's embedding, then
    each sample's, plus the item bias; the log-Q of the targets' columns, then the samples'."""
    torch.manual_seed(0)
    model = GRU4Rec(8, embedding_size=4, hidden_size=4, constrained_embedding=True, output_bias=True,
                    loss_type="CE-batch")
    with torch.no_grad():
        model.item_bias.weight.copy_(torch.arange(8, dtype=torch.float32).unsqueeze(1) / 10)
    model.loss_params = LossParams(logq=1.0)
    output, targets = torch.randn(2, 4), torch.tensor([3, 5])
    candidates = Candidates(torch.tensor([1, 3]), torch.tensor([0.2, 0.4]), torch.tensor([1.0, 2.0]))
    table, bias = model.item_embedding.weight.detach(), model.item_bias.weight.detach()[:, 0]
    columns = [3, 5, 1, 3]
    log_q = [1.0, 2.0, 0.2, 0.4]
    expected = 0.0
    for row in range(2):
        logits = [float(output[row] @ table[c]) + float(bias[c]) - q for c, q in zip(columns, log_q)]
        expected += -(logits[row] - math.log(sum(math.exp(v) for v in logits))) / 2
    assert model._loss(output, targets, None, candidates, "mean").item() == pytest.approx(expected, rel=1e-5)


def test_full_scores_add_the_item_bias():
    torch.manual_seed(0)
    model = GRU4Rec(8, embedding_size=4, hidden_size=4, constrained_embedding=True, output_bias=True).eval()
    with torch.no_grad():
        model.item_bias.weight.fill_(0.5)
    batch = Batch(torch.tensor([[1, 2]]), torch.tensor([2]), torch.tensor([3]))
    plain = model.encode(batch.history, batch.lengths) @ model.item_embedding.weight.t()
    assert torch.allclose(model.full_scores(batch), plain + 0.5)


def test_the_batch_losses_shared_negatives_follow_popularity_and_carry_the_authors_log_q():
    counts = np.array([0, 100, 0, 25, 4])
    sampler = CandidateSampler.for_batch_losses(counts, n_sample=2000, sample_alpha=0.5)
    drawn = sampler.draw(np.random.default_rng(0))
    assert set(np.unique(drawn)) == {1, 3, 4}
    assert abs((drawn == 1).mean() - 10 / 17) < 0.03  # sqrt counts 10, 5, 2
    assert sampler.log_q[[1, 3, 4]].tolist() == pytest.approx([0.5 * math.log(c) for c in (100, 25, 4)], rel=1e-6)
    assert sampler.target_log_q[[1, 3, 4]].tolist() == pytest.approx([math.log(c) for c in (100, 25, 4)], rel=1e-6)
    assert sampler.target_log_q[0] == 0.0 and sampler.log_q[2] == 0.0  # unseen items: no correction
    assert len(CandidateSampler.for_batch_losses(counts, 0, 0.5).draw(np.random.default_rng(0))) == 0
