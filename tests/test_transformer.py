"""TransformerEncoder at one step per row: the same output and gradients as the step taken from
the full pass, for causal and padding masks."""
import pytest
import torch

from gru4recf.models.transformer import TransformerEncoder, causal_mask, padding_mask


def encoder() -> TransformerEncoder:
    torch.manual_seed(0)
    return TransformerEncoder(n_layers=2, n_heads=2, hidden_size=8, inner_size=12, hidden_dropout_prob=0.0,
                              attn_dropout_prob=0.0).double()


ITEMS = torch.tensor([[3, 1, 4, 1, 5], [9, 2, 6, 0, 0], [5, 0, 0, 0, 0]])
AT = torch.tensor([4, 1, 0])  # the last step of the first two rows, the only one of the third


@pytest.mark.parametrize("make_mask", [causal_mask, padding_mask])
def test_output_at_one_step_is_that_step_of_the_full_output_with_the_same_gradients(make_mask):
    model, mask = encoder(), make_mask(ITEMS).double()
    hidden = torch.randn(3, 5, 8, dtype=torch.float64, requires_grad=True)
    full = model(hidden, mask)[torch.arange(3), AT]  # [3, 8]
    weights = torch.randn(3, 8, dtype=torch.float64)
    expected = torch.autograd.grad((full * weights).sum(), [hidden, *model.parameters()])
    picked = model(hidden, mask, at=AT)
    assert picked.shape == (3, 8)
    assert torch.allclose(picked, full, atol=1e-12)
    got = torch.autograd.grad((picked * weights).sum(), [hidden, *model.parameters()])
    assert all(torch.allclose(g, e, atol=1e-12) for g, e in zip(got, expected))


def test_all_layers_and_one_step_exclude_each_other():
    with pytest.raises(ValueError, match="all_layers and at"):
        encoder()(torch.zeros(3, 5, 8, dtype=torch.float64), causal_mask(ITEMS).double(), all_layers=True, at=AT)
