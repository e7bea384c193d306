"""Contract tests run over every registered model, plus GRU4RecF against RecBole's computation."""
import numpy as np
import pytest
import torch

from gru4recf.data.features import FeatureField
from gru4recf.models.registry import MODELS, build_model
from gru4recf.training.checkpoint import load_checkpoint, save_checkpoint

N_ITEMS = 12


def features() -> list:
    genres = np.zeros((N_ITEMS, 3), dtype=np.int64)
    for item in range(1, N_ITEMS):
        genres[item, : 1 + item % 3] = [1 + (item + k) % 5 for k in range(1 + item % 3)]
    kind = np.array([0] + [1 + item % 2 for item in range(1, N_ITEMS)], dtype=np.int64)
    year = np.linspace(0, 1, N_ITEMS).astype(np.float32)
    return [FeatureField("class", "token_seq", genres, np.array(["[PAD]", "a", "b", "c", "d", "e"], dtype=object)),
            FeatureField("kind", "token", kind, np.array(["[PAD]", "x", "y"], dtype=object)),
            FeatureField("year", "float", year)]


def config(**overrides) -> dict:
    values = {"embedding_size": 8, "hidden_size": 6, "num_layers": 1, "dropout_prob": 0.3,
              "pooling_mode": "sum", "loss_type": "CE", "selected_features": ["class", "kind", "year"]}
    values.update(overrides)
    return values


def batch():
    history = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9]])
    lengths = torch.tensor([3, 2, 4])
    return history, lengths, torch.tensor([4, 6, 10]), torch.tensor([[5, 7], [1, 2], [3, 11]])


@pytest.fixture(params=sorted(MODELS))
def name(request):
    return request.param


@pytest.mark.parametrize("loss_type", ["CE", "BPR"])
def test_shapes_and_finite_loss(name, loss_type):
    torch.manual_seed(0)
    model = build_model(name, config(loss_type=loss_type), N_ITEMS, features())
    history, lengths, targets, negatives = batch()
    assert model.encode(history, lengths).shape == (3, 8)
    assert model.full_scores(history, lengths).shape == (3, N_ITEMS)
    loss = model.loss(history, lengths, targets, negatives if loss_type == "BPR" else None)
    assert loss.dim() == 0 and torch.isfinite(loss)


def test_one_optimiser_step_changes_the_weights(name):
    torch.manual_seed(0)
    model = build_model(name, config(), N_ITEMS, features())
    before = {k: v.clone() for k, v in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    history, lengths, targets, _ = batch()
    model.loss(history, lengths, targets).backward()
    optimizer.step()
    changed = [k for k, v in model.named_parameters() if not torch.equal(v, before[k])]
    assert sorted(changed) == sorted(before)


def test_padding_after_the_last_item_does_not_change_the_output(name):
    torch.manual_seed(0)
    model = build_model(name, config(), N_ITEMS, features()).eval()
    history, lengths = torch.tensor([[1, 2, 3]]), torch.tensor([3])
    padded = torch.tensor([[1, 2, 3, 0, 0]])
    assert torch.allclose(model.encode(history, lengths), model.encode(padded, lengths))


def test_checkpoint_round_trip_gives_identical_scores(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(name, config(), N_ITEMS, features()).eval()
    save_checkpoint(tmp_path / "m.pth", model.state_dict(), {"model": name})
    state, meta = load_checkpoint(tmp_path / "m.pth")
    torch.manual_seed(1)
    fresh = build_model(name, config(), N_ITEMS, features()).eval()
    fresh.load_state_dict(state)
    history, lengths, _, _ = batch()
    assert meta["model"] == name
    assert torch.equal(model.full_scores(history, lengths), fresh.full_scores(history, lengths))


def recbole_features(model, history):
    """RecBole's FeatureSeqEmbLayer: embed every (step, token), mask padding, pool per field."""
    parts = []
    for index, (kind, module) in enumerate(zip(model.features.kinds, model.features.encoders)):
        table = getattr(model.features, f"table_{index}")[history]
        if kind == "token":
            parts.append(module.weight[table])
        elif kind == "float":
            parts.append(table.unsqueeze(-1) * module.weight.squeeze(-1))
        else:
            tokens = module.weight[table]  # [B, L, T, E]
            mask = (table != 0).float().unsqueeze(-1)
            if module.mode == "max":
                parts.append((tokens - (1 - mask) * 1e9).max(dim=-2).values)
            elif module.mode == "sum":
                parts.append((tokens * mask).sum(dim=-2))
            else:
                parts.append((tokens * mask).sum(dim=-2) / (mask.sum(dim=-2) + 1e-8))
    return torch.cat(parts, dim=-1)


@pytest.mark.parametrize("pooling", ["sum", "mean", "max"])
def test_gru4recf_matches_recbole_computation(pooling):
    torch.manual_seed(0)
    model = build_model("GRU4RecF", config(pooling_mode=pooling, num_layers=2), N_ITEMS, features()).eval()
    history, lengths, _, _ = batch()
    item_out, _ = model.item_gru(model.item_embedding(history))
    feature_out, _ = model.feature_gru(recbole_features(model, history))
    concat = torch.cat([item_out, feature_out], dim=-1)
    expected = model.dense(concat)[torch.arange(3), lengths - 1]
    assert torch.allclose(model.encode(history, lengths), expected, atol=1e-5)


def test_gru4recf_item_without_features_pools_to_zero():
    torch.manual_seed(0)
    fields = [FeatureField("class", "token_seq", np.zeros((4, 2), dtype=np.int64), np.array(["[PAD]", "a"], dtype=object))]
    model = build_model("GRU4RecF", config(pooling_mode="max", selected_features=["class"]), 4, fields)
    assert torch.equal(model.features(torch.tensor([1, 2])), torch.zeros(2, 8))


def test_bpr_loss_is_recbole_formula():
    torch.manual_seed(0)
    model = build_model("GRU4Rec", config(loss_type="BPR"), N_ITEMS, []).eval()
    history, lengths, targets, negatives = batch()
    out = model.encode(history, lengths)
    pos = (out * model.item_embedding(targets)).sum(-1, keepdim=True)
    neg = (out.unsqueeze(1) * model.item_embedding(negatives)).sum(-1)
    expected = -torch.log(torch.sigmoid(pos - neg) + 1e-10).mean()
    assert torch.allclose(model.loss(history, lengths, targets, negatives), expected)
