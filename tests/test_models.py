"""Contract tests run over every registered model, plus GRU4RecF against RecBole's computation."""
import numpy as np
import pytest
import torch

from gru4recf.data.batching import Batch
from gru4recf.data.features import FeatureField
from gru4recf.models.gru4recf import SUBNETS, GRU4RecFSettings
from gru4recf.models.registry import build_model, models
from model_contract import N_ITEMS, check_model, features


def config(**overrides) -> dict:
    values = {"embedding_size": 8, "hidden_size": 6, "num_layers": 1, "dropout_prob": 0.3,
              "pooling_mode": "sum", "loss_type": "CE", "selected_features": ["class", "kind", "year", "vec"],
              "architecture": "parallel", "subnet_weights": [1.0, 0.5], "learn_subnet_weights": True}
    values.update(overrides)
    return values


def batch():
    history = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9]])
    lengths = torch.tensor([3, 2, 4])
    return history, lengths, torch.tensor([4, 6, 10]), torch.tensor([[5, 7], [1, 2], [3, 11]])


# Every registered model with its defaults, GRU4RecF in each of its architectures, and GRU4Rec as its
# authors build it (configs/gru4rec_official.yaml).
VARIANTS = [(name, {}) for name in sorted(models()) if name != "GRU4RecF"]
VARIANTS += [("GRU4RecF", config(architecture=architecture)) for architecture in SUBNETS]
VARIANTS += [("GRU4Rec", {"constrained_embedding": True, "output_bias": True,
                          "gru_bias": True, "hidden_dropout_prob": 0.2, "embedding_size": 6})]


@pytest.mark.parametrize("name, values", VARIANTS,
                         ids=[name + "".join(f"-{v.get('architecture', 'authors')}" for v in [values] if v)
                              for name, values in VARIANTS])
def test_every_model_meets_the_contract(name, values, tmp_path):
    check_model(models()[name], values, tmp_path)


def test_every_architecture_is_a_config_choice():
    assert GRU4RecFSettings.keys()["architecture"][1].allowed == ", ".join(SUBNETS)


def test_every_model_declares_each_key_once_with_a_check_and_documentation():
    for name, spec in models().items():
        for key, (_, info) in spec.settings.keys().items():
            assert info.doc and callable(info.check), (name, key)
            assert info.check(key, spec.settings.defaults()[key]) == spec.settings.defaults()[key], (name, key)


def padded(field) -> np.ndarray:
    """RecBole's layout of a token_seq table: [n_items, longest] ids, right-padded with 0."""
    rows = [field.tokens_of(item) for item in range(field.n_items)]
    matrix = np.zeros((len(rows), max(len(row) for row in rows)), dtype=np.int64)
    for item, row in enumerate(rows):
        matrix[item, :len(row)] = row
    return matrix


def recbole_features(model, history):
    """RecBole's FeatureSeqEmbLayer: embed every (step, token), mask padding, pool per field."""
    parts = []
    for field, kind, module in zip(features(), model.features.kinds, model.features.encoders):
        table = torch.as_tensor(padded(field) if kind == "token_seq" else field.values)[history]
        if kind == "token":
            parts.append(module.weight[table])
        elif kind == "float":
            parts.append(table.unsqueeze(-1) * module.weight.squeeze(-1))
        elif kind == "float_seq":
            parts.append(table @ module.weight.t())  # a dense vector projected, not collapsed
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
    item_out, _ = model.grus["item"](model.item_embedding(history))
    feature_out, _ = model.grus["feature"](recbole_features(model, history))
    concat = torch.cat([item_out, feature_out], dim=-1)  # RecBole's dense layer over the concatenation
    dense = torch.cat([model.heads["item"].weight, model.heads["feature"].weight], dim=1)
    expected = torch.nn.functional.linear(concat, dense, model.bias)[torch.arange(3), lengths - 1]
    assert torch.allclose(model.encode(history, lengths), expected, atol=1e-5)


def test_gru4recf_is_initialised_as_recbole_s_gru4recf():
    """RecBole applies xavier_normal_initialization to GRU4RecF: Xavier-normal embeddings and dense
    layer (over its single Linear(2H, E)), zero bias, and torch's default for the GRUs."""
    torch.manual_seed(0)
    hidden = 32
    model = build_model("GRU4RecF", config(hidden_size=hidden), N_ITEMS, features())
    size = model.item_embedding.weight.shape[1]
    blocks = torch.cat([model.heads["item"].weight, model.heads["feature"].weight], dim=1)  # [E, 2H]
    assert blocks.std().item() == pytest.approx((2 / (2 * hidden + size)) ** 0.5, rel=0.1)
    assert torch.count_nonzero(model.bias) == 0
    assert model.item_embedding.weight.std().item() == pytest.approx((2 / (N_ITEMS + size)) ** 0.5, rel=0.1)
    bound = 1 / hidden ** 0.5  # torch's GRU init: U(-1/sqrt(H), 1/sqrt(H)); Xavier would exceed it
    weights = torch.cat([w.flatten() for gru in model.grus.values() for w in gru.parameters()])
    assert weights.abs().max() <= bound and weights.abs().max() > 0.95 * bound
    weighted = build_model("GRU4RecF", config(hidden_size=hidden, architecture="weighted"), N_ITEMS, features())
    assert weighted.heads["item"].weight.std().item() == pytest.approx((2 / (hidden + size)) ** 0.5, rel=0.1)
    assert torch.count_nonzero(weighted.heads["item"].bias) == 0


def test_weighted_architecture_sums_subnet_outputs_with_their_weights():
    torch.manual_seed(0)
    model = build_model("GRU4RecF", config(architecture="weighted", learn_subnet_weights=False), N_ITEMS,
                        features()).eval()
    history, lengths, _, _ = batch()
    item_out, _ = model.grus["item"](model.item_embedding(history))
    feature_out, _ = model.grus["feature"](model.features(history))
    expected = 1.0 * model.heads["item"](item_out) + 0.5 * model.heads["feature"](feature_out)
    assert torch.allclose(model.encode(history, lengths), expected[torch.arange(3), lengths - 1], atol=1e-6)
    assert "weight_item" not in dict(model.named_parameters())  # fixed weights are not trained


def test_feature_only_architecture_does_not_read_item_embeddings_as_input():
    torch.manual_seed(0)
    model = build_model("GRU4RecF", config(architecture="feature"), N_ITEMS, features()).eval()
    history, lengths, _, _ = batch()
    before = model.encode(history, lengths)
    with torch.no_grad():
        model.item_embedding.weight.mul_(3.0)  # only the scoring uses them
    assert torch.allclose(model.encode(history, lengths), before)


def test_silenced_subnet_adds_nothing():
    torch.manual_seed(0)
    model = build_model("GRU4RecF", config(architecture="weighted"), N_ITEMS, features()).eval()
    model.silence("feature")
    history, lengths, _, _ = batch()
    item_out, _ = model.grus["item"](model.item_embedding(history))
    expected = model.heads["item"](item_out)[torch.arange(3), lengths - 1]
    assert torch.allclose(model.encode(history, lengths), expected, atol=1e-6)


@pytest.mark.parametrize("architecture", ["parallel", "weighted"])
def test_parameter_groups_cover_every_parameter_once(architecture):
    model = build_model("GRU4RecF", config(architecture=architecture), N_ITEMS, features())
    grouped = [id(p) for params in model.parameter_groups().values() for p in params]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())
    assert set(model.parameter_groups()) == {"item", "feature", "output"}


def test_gru4recf_item_without_features_pools_to_zero():
    torch.manual_seed(0)
    fields = [FeatureField.from_token_lists("class", [[], [], [], []], np.array(["[PAD]", "a"], dtype=object))]
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
    assert torch.allclose(model.loss(Batch(history, lengths, targets, negatives)), expected)
