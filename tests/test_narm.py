"""NARM: RecBole's computation written out by hand, its initialisation, train_mode 'sequence' and its keys."""
import pytest
import torch

from gru4recf.errors import ConfigError
from gru4recf.experiment import load_config
from gru4recf.models.narm import NARM
from gru4recf.models.registry import build_model
from sequence_invariant import assert_chunks_equal_augment

N_ITEMS = 12
SMALL = {"embedding_size": 5, "hidden_size": 4}


def gru_by_hand(gru, inputs):
    """A bias-free GRU's last-layer outputs, from its gate equations: [L, E] -> [L, H]."""
    for layer in range(gru.num_layers):
        w_r, w_z, w_n = getattr(gru, f"weight_ih_l{layer}").chunk(3)
        u_r, u_z, u_n = getattr(gru, f"weight_hh_l{layer}").chunk(3)
        h, outputs = torch.zeros(gru.hidden_size), []
        for x in inputs:
            r = torch.sigmoid(w_r @ x + u_r @ h)
            z = torch.sigmoid(w_z @ x + u_z @ h)
            n = torch.tanh(w_n @ x + r * (u_n @ h))
            h = (1 - z) * n + z * h
            outputs.append(h)
        inputs = torch.stack(outputs)
    return inputs


def narm_by_hand(model, items):
    """RecBole's NARM for one history (a list of ids): B [sum_j alpha_j h_j ; h_n], alpha_j =
    v . sigmoid(A1 h_j + A2 h_n)."""
    outputs = gru_by_hand(model.gru, model.item_embedding.weight[items])  # [n, H]
    last = outputs[-1]
    local = sum((model.v_t.weight[0] @ torch.sigmoid(model.a_1.weight @ h + model.a_2.weight @ last)) * h
                for h in outputs)
    return model.b.weight @ torch.cat([local, last])


@pytest.mark.parametrize("n_layers", [1, 2])
def test_encode_is_recbole_narm_written_out(n_layers):
    torch.manual_seed(0)
    model = build_model("NARM", {**SMALL, "n_layers": n_layers}, N_ITEMS).eval()
    history = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0], [6, 7, 8, 9, 10]])
    lengths = torch.tensor([3, 2, 5])
    with torch.no_grad():
        got = model.encode(history, lengths)
        for row, length in enumerate(lengths.tolist()):
            assert torch.allclose(got[row], narm_by_hand(model, history[row, :length].tolist()), atol=1e-6)


def test_a_one_item_history_attends_to_its_only_output():
    torch.manual_seed(0)
    model = build_model("NARM", SMALL, N_ITEMS).eval()
    with torch.no_grad():
        h = gru_by_hand(model.gru, model.item_embedding.weight[[7]])[0]
        alpha = model.v_t.weight[0] @ torch.sigmoid((model.a_1.weight + model.a_2.weight) @ h)
        expected = model.b.weight @ torch.cat([alpha * h, h])
        assert torch.allclose(model.encode(torch.tensor([[7]]), torch.tensor([1]))[0], expected, atol=1e-6)


@pytest.mark.parametrize("chunk_length", [1, 3, 50])
def test_sequence_losses_equal_augment_losses_of_the_whole_prefix(chunk_length):
    """The state carries every GRU output read so far: a target in a later chunk attends to all of them."""
    torch.manual_seed(0)
    model = build_model("NARM", SMALL, N_ITEMS)
    rows = [[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5], [2, 7, 1, 8, 2, 8, 1], [11, 10, 9, 8], [6, 6]]
    assert assert_chunks_equal_augment(model, rows, chunk_length) == 10 + 6 + 3 + 1


def test_bpr_sequence_losses_equal_augment_losses():
    torch.manual_seed(0)
    model = build_model("NARM", {**SMALL, "loss_type": "BPR"}, N_ITEMS)
    rows = [[3, 1, 4, 1, 5, 9, 2], [2, 7, 1, 8]]
    negatives = {(row, step): [(row + 2 * step) % 11 + 1, (5 * step + row) % 11 + 1]
                 for row, items in enumerate(rows) for step in range(len(items) - 1)}
    assert assert_chunks_equal_augment(model, rows, 2, negatives) == 9


def test_dropout_applies_to_embeddings_and_to_the_encoders_output_in_training():
    torch.manual_seed(0)
    model = build_model("NARM", {**SMALL, "dropout_probs": [0.0, 0.0]}, N_ITEMS).train()
    history, lengths = torch.tensor([[1, 2, 3]]), torch.tensor([3])
    assert torch.equal(model.encode(history, lengths), model.encode(history, lengths))
    model = build_model("NARM", {**SMALL, "dropout_probs": [0.0, 0.9]}, N_ITEMS).train()
    assert not torch.equal(model.encode(history, lengths), model.encode(history, lengths))
    assert (model.emb_dropout.p, model.ct_dropout.p) == (0.0, 0.9)


def test_initialisation_is_recbole_s():
    """Xavier-normal item embeddings (padding row included) and dense layers; torch's GRU default."""
    torch.manual_seed(0)
    model = NARM(400, embedding_size=64, hidden_size=128)
    assert model.item_embedding.weight.std().item() == pytest.approx((2 / (400 + 64)) ** 0.5, rel=0.05)
    assert model.item_embedding.weight[0].abs().sum() > 0
    assert model.a_1.weight.std().item() == pytest.approx((2 / (128 + 128)) ** 0.5, rel=0.05)
    assert model.b.weight.std().item() == pytest.approx((2 / (256 + 64)) ** 0.5, rel=0.05)
    bound = 1 / 128 ** 0.5
    assert model.gru.weight_ih_l0.abs().max() <= bound and model.gru.weight_ih_l0.abs().max() > 0.99 * bound
    assert all(p.bias is None for p in (model.a_1, model.a_2, model.v_t, model.b))


def test_keys_are_recbole_s_and_dropout_probs_is_checked():
    config = load_config("NARM", "ml-100k")
    assert (config["embedding_size"], config["hidden_size"], config["n_layers"], config["dropout_probs"],
            config["loss_type"]) == (64, 128, 1, [0.25, 0.5], "CE")
    with pytest.raises(ConfigError, match=r"'dropout_probs' has value \[0.5\]; expected two dropout rates"):
        load_config("NARM", "ml-100k", config_dict={"dropout_probs": [0.5]})
    with pytest.raises(ConfigError, match=r"'dropout_probs' has value \[0.2, 1.0\]"):
        load_config("NARM", "ml-100k", config_dict={"dropout_probs": "[0.2, 1.0]"})
    assert load_config("NARM", "ml-100k", config_dict={"train_mode": "sequence"})["train_mode"] == "sequence"
