"""STAMP: RecBole's computation over its padded histories written out by hand, its initialisation and
train_mode 'sequence'."""
import pytest
import torch

from gru4recf.data.batching import Batch
from gru4recf.experiment import load_config
from gru4recf.models.registry import model_spec
from gru4recf.models.spec import Catalogue
from gru4recf.models.stamp import STAMP
from sequence_invariant import assert_chunks_equal_augment

N_ITEMS = 12


def stamp(max_history: int = 6, **values) -> STAMP:
    spec = model_spec("STAMP")
    return spec.build(spec.parse({"embedding_size": 5, **values}), Catalogue(N_ITEMS, max_history=max_history))


def stamp_by_hand(model, items, width):
    """RecBole's STAMP on one history padded with item 0 to `width` steps, as RecBole batches it; the
    padding rows send no gradient, as through RecBole's padding_idx lookup."""
    weight = model.item_embedding.weight
    embedded = torch.cat([weight[list(items)], weight[0].detach().expand(width - len(items), -1)])  # [width, E]
    last = embedded[len(items) - 1]
    mean = embedded.sum(dim=0) / len(items)
    alpha = [model.w0.weight[0] @ torch.sigmoid(model.w1.weight @ x + model.w2.weight @ last
                                                + model.w3.weight @ mean + model.b_a) for x in embedded]
    memory = sum(a * x for a, x in zip(alpha, embedded)) + mean
    return torch.tanh(model.mlp_a(memory)) * torch.tanh(model.mlp_b(last))


def trained_padding_row(model):
    """A padding embedding as training leaves it (the output layer moves it), so that it matters."""
    with torch.no_grad():
        model.item_embedding.weight[0] = torch.linspace(-0.5, 0.5, model.item_embedding.weight.shape[1])
        for layer in (model.mlp_a, model.mlp_b):
            layer.bias.uniform_(-0.3, 0.3)


def test_encode_is_recbole_stamp_over_histories_padded_to_max_item_list_length():
    torch.manual_seed(0)
    model = stamp(max_history=6).eval()
    trained_padding_row(model)
    history = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9], [10, 0, 0, 0]])
    lengths = torch.tensor([3, 2, 4, 1])
    with torch.no_grad():
        got = model.encode(history, lengths)
        for row, length in enumerate(lengths.tolist()):
            assert torch.allclose(got[row], stamp_by_hand(model, history[row, :length].tolist(), 6), atol=1e-6)
        full = torch.tensor([[1, 2, 3, 4, 5, 6]])  # as long as MAX_ITEM_LIST_LENGTH: no padding at all
        assert torch.allclose(model.encode(full, torch.tensor([6]))[0], stamp_by_hand(model, range(1, 7), 6), atol=1e-6)


def test_the_padding_rows_count_follows_max_item_list_length_not_the_batch_width():
    torch.manual_seed(0)
    short, long = stamp(max_history=4).eval(), stamp(max_history=9).eval()
    long.load_state_dict(short.state_dict())
    trained_padding_row(short)
    trained_padding_row(long)
    history, lengths = torch.tensor([[1, 2, 0, 0, 0, 0, 0]]), torch.tensor([2])
    with torch.no_grad():
        assert torch.allclose(short.encode(history, lengths)[0], stamp_by_hand(short, [1, 2], 4), atol=1e-6)
        assert torch.allclose(long.encode(history, lengths)[0], stamp_by_hand(long, [1, 2], 9), atol=1e-6)
        assert not torch.allclose(short.encode(history, lengths), long.encode(history, lengths), atol=1e-4)


def test_the_padding_row_is_trained_by_the_output_layer_only():
    """As in RecBole, whose padding reaches the sums through an nn.Embedding with padding_idx 0."""
    torch.manual_seed(0)
    model = stamp(max_history=6)
    trained_padding_row(model)
    history, lengths, targets = torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2]), torch.tensor([4, 6])
    model.loss(Batch(history, lengths, targets)).backward()
    with torch.no_grad():
        out = model.encode(history, lengths)  # [B, E]
        chance = torch.softmax(out @ model.item_embedding.weight.t(), dim=-1)[:, 0]  # [B]
        expected = (chance.unsqueeze(1) * out).mean(dim=0)  # d CE / d (padding row) through the scores alone
    assert torch.allclose(model.item_embedding.weight.grad[0], expected, atol=1e-7)


def gradients(model, loss):
    model.zero_grad()
    loss.backward()
    return {name: parameter.grad.clone() for name, parameter in model.named_parameters()}


@pytest.mark.parametrize("piece", [1 << 18, 40])
def test_gradients_of_encode_and_of_every_step_are_those_of_recbole_s_computation(monkeypatch, piece):
    """The attention's own backward (stamp.AttentionMemory) against autograd through the computation
    written out by hand, in float64; a small `piece` cuts the rows into pieces of several widths."""
    monkeypatch.setattr("gru4recf.models.stamp.PIECE", piece)
    torch.manual_seed(0)
    model = stamp(max_history=6).double()
    trained_padding_row(model)
    history = torch.tensor([[1, 2, 3, 0, 0, 0], [4, 5, 0, 0, 0, 0], [6, 7, 8, 9, 10, 11], [10, 0, 0, 0, 0, 0]])
    lengths = torch.tensor([3, 2, 6, 1])
    weights = torch.randn(4, 5, dtype=torch.float64)
    got = gradients(model, (model.encode(history, lengths) * weights).sum())
    expected = gradients(model, sum((stamp_by_hand(model, history[row, :n].tolist(), 6) * weights[row]).sum()
                                    for row, n in enumerate(lengths.tolist())))
    rows = [[3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 0, 0, 0, 0, 0]]  # the first longer than MAX_ITEM_LIST_LENGTH
    steps = torch.randn(2, 8, 5, dtype=torch.float64)
    outputs, _ = model.encode_steps(torch.tensor(rows))
    valid = torch.tensor(rows) != 0
    got_steps = gradients(model, (outputs * steps)[valid].sum())
    expected_steps = gradients(model, sum((stamp_by_hand(model, items[:t + 1], max(6, t + 1)) * steps[row, t]).sum()
                                          for row, items in enumerate(rows) for t in range(len(items)) if items[t]))
    for name in expected:
        assert torch.allclose(got[name], expected[name], rtol=1e-9, atol=1e-12), name
        assert torch.allclose(got_steps[name], expected_steps[name], rtol=1e-9, atol=1e-12), name
    assert expected["w1.weight"].abs().max() > 0 and expected_steps["w0.weight"].abs().max() > 0


@pytest.mark.parametrize("chunk_length", [1, 3, 50])
def test_sequence_losses_equal_augment_losses_of_the_whole_prefix(chunk_length):
    """Rows longer than MAX_ITEM_LIST_LENGTH (6) too: such a prefix has no padding terms, in both."""
    torch.manual_seed(0)
    model = stamp(max_history=6)
    trained_padding_row(model)
    rows = [[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5], [2, 7, 1, 8, 2, 8, 1], [11, 10, 9, 8], [6, 6]]
    assert assert_chunks_equal_augment(model, rows, chunk_length) == 10 + 6 + 3 + 1


def test_bpr_sequence_losses_equal_augment_losses():
    torch.manual_seed(0)
    model = stamp(max_history=6, loss_type="BPR")
    rows = [[3, 1, 4, 1, 5, 9, 2, 5], [2, 7, 1, 8]]
    negatives = {(row, step): [(row + 2 * step) % 11 + 1] for row, items in enumerate(rows)
                 for step in range(len(items) - 1)}
    assert assert_chunks_equal_augment(model, rows, 3, negatives) == 10


def test_initialisation_is_recbole_s():
    """Embeddings normal(0, 0.002) (padding row included), dense weights normal(0, 0.05), zero biases."""
    torch.manual_seed(0)
    model = STAMP(2000, embedding_size=64)
    assert model.item_embedding.weight.std().item() == pytest.approx(0.002, rel=0.05)
    assert model.item_embedding.weight[0].abs().sum() > 0
    for layer in (model.w1, model.w2, model.w3, model.mlp_a, model.mlp_b):
        assert layer.weight.std().item() == pytest.approx(0.05, rel=0.1)
    assert all(torch.count_nonzero(b) == 0 for b in (model.mlp_a.bias, model.mlp_b.bias, model.b_a))
    assert all(layer.bias is None for layer in (model.w0, model.w1, model.w2, model.w3))


def test_keys_are_recbole_s():
    config = load_config("STAMP", "ml-100k", config_dict={"train_mode": "sequence"})
    assert (config["embedding_size"], config["loss_type"], config["train_mode"]) == (64, "CE", "sequence")
