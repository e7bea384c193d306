"""full_cross_entropy is F.cross_entropy over the scores output @ table.t() (+ bias), in value and
in every gradient, whether the rows fit one chunk or many."""
import pytest
import torch
import torch.nn.functional as F

from gru4recf.models import full_softmax
from gru4recf.models.full_softmax import full_cross_entropy


def _inputs(rows: int, items: int, bias_shape):
    generator = torch.Generator().manual_seed(rows * 31 + items)
    output = torch.randn(rows, 6, dtype=torch.float64, generator=generator).requires_grad_()
    table = torch.randn(items, 6, dtype=torch.float64, generator=generator).requires_grad_()
    bias = None if bias_shape is None else torch.randn(bias_shape, dtype=torch.float64,
                                                        generator=generator).requires_grad_()
    targets = torch.randint(0, items, (rows,), generator=generator)
    return output, table, bias, targets


@pytest.mark.parametrize("chunk_elements", [1 << 18, 40])  # one chunk; chunks of 16 rows (the floor)
@pytest.mark.parametrize("bias_shape", [None, (9, 1), (9,)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_loss_and_gradients_match_cross_entropy(monkeypatch, chunk_elements, bias_shape, reduction):
    monkeypatch.setattr(full_softmax, "CHUNK_ELEMENTS", chunk_elements)
    output, table, bias, targets = _inputs(53, 9, bias_shape)
    leaves = [t for t in (output, table, bias) if t is not None]
    scores = output @ table.t() + (0 if bias is None else bias.reshape(1, -1))
    expected = F.cross_entropy(scores, targets, reduction=reduction)
    expected_grads = torch.autograd.grad(expected * 2.5, leaves)
    got = full_cross_entropy(output, table, bias, targets, reduction)
    got_grads = torch.autograd.grad(got * 2.5, leaves)
    assert torch.allclose(got, expected, rtol=1e-12, atol=0)
    for name, want, have in zip(("output", "table", "bias"), expected_grads, got_grads):
        assert have.shape == want.shape, name
        assert torch.allclose(have, want, rtol=1e-10, atol=1e-13), name


def test_frozen_inputs_get_no_gradient_and_the_rest_still_do():
    output, table, _, targets = _inputs(20, 5, None)
    table.requires_grad_(False)
    loss = full_cross_entropy(output, table, None, targets)
    (grad,) = torch.autograd.grad(loss, [output])
    expected = torch.autograd.grad(F.cross_entropy(output @ table.t(), targets), [output])[0]
    assert torch.allclose(grad, expected, rtol=1e-10, atol=1e-13)


def test_without_grad_it_only_computes_the_loss(monkeypatch):
    def refuse(*args):
        raise AssertionError("a gradient was built under no_grad")

    monkeypatch.setattr(full_softmax, "_accumulate", refuse)
    output, table, _, targets = _inputs(20, 5, None)
    with torch.no_grad():
        loss = full_cross_entropy(output, table, None, targets, "sum")
    assert not loss.requires_grad
    assert torch.allclose(loss, F.cross_entropy(output @ table.t(), targets, reduction="sum"))


def test_no_rows_give_what_cross_entropy_gives():
    output, table, _, targets = _inputs(0, 5, None)
    assert full_cross_entropy(output, table, None, targets, "sum").item() == 0.0
    assert torch.isnan(full_cross_entropy(output, table, None, targets, "mean"))
    assert torch.isnan(F.cross_entropy(output @ table.t(), targets))


def test_an_unknown_reduction_is_refused():
    output, table, _, targets = _inputs(4, 3, None)
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum', not 'none'"):
        full_cross_entropy(output, table, None, targets, "none")
