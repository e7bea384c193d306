"""FDSA: RecBole's two self-attention streams joined by one dense layer; the feature stream reads
features only, its attention pools features as written by hand, the two streams are subnets that
the training strategies can train and silence, and train_mode 'sequence' scores each target
exactly as its augment example."""
import pytest
import torch
import torch.nn.functional as F

from gru4recf.data.batching import Batch
from gru4recf.data.sequence_batches import SequenceBatch
from gru4recf.errors import ConfigError
from gru4recf.experiment import load_config
from gru4recf.models.fdsa import FDSASettings
from gru4recf.models.registry import build_model
from gru4recf.models.transformer import causal_mask
from model_contract import N_ITEMS, features

TOY = {"n_layers": 2, "n_heads": 2, "hidden_size": 8, "inner_size": 12, "MAX_ITEM_LIST_LENGTH": 10,
       "hidden_dropout_prob": 0.0, "attn_dropout_prob": 0.0, "selected_features": ["class", "kind", "year", "vec"]}
ITEMS, LENGTHS = torch.tensor([[1, 2, 3, 0], [4, 5, 6, 7]]), torch.tensor([3, 4])


def toy(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("FDSA", {**TOY, **overrides}, N_ITEMS, features()).eval()
    with torch.no_grad():  # a non-zero bias, so that it is tested too
        model.bias.add_(0.1 * torch.randn_like(model.bias))
    return model


def test_output_is_recbole_s_dense_layer_over_both_streams_then_layer_norm():
    model = toy()
    positions = model.position_embedding.weight[:4]
    norm = lambda x: F.layer_norm(x, (8,), model.LayerNorm.weight, model.LayerNorm.bias, 1e-12)
    mask = causal_mask(ITEMS)
    item_out = model.item_trm_encoder(norm(model.item_embedding.weight[ITEMS] + positions), mask)
    feature_out = model.feature_trm_encoder(norm(model.feature_stream_input(ITEMS) + positions), mask)
    concat_layer = torch.cat([model.heads["item"].weight, model.heads["feature"].weight], dim=1)  # [H, 2H]
    expected = norm(F.linear(torch.cat([item_out, feature_out], dim=-1), concat_layer, model.bias))
    assert torch.allclose(model.encode(ITEMS, LENGTHS), expected[torch.arange(2), LENGTHS - 1], atol=1e-6)


def test_feature_attention_is_a_softmax_over_the_features_of_each_item():
    model = toy()
    first, _, second = model.feature_att_layer.projection
    table = model.features(torch.tensor([5])).view(4, 8)  # item 5's four feature embeddings [F, H]
    energy = F.linear(torch.relu(F.linear(table, first.weight, first.bias)), second.weight, second.bias)  # [F, 1]
    expected = (torch.softmax(energy.squeeze(-1), dim=0).unsqueeze(-1) * table).sum(dim=0)
    assert torch.allclose(model.feature_stream_input(torch.tensor([[5]]))[0, 0], expected, atol=1e-6)


def test_feature_stream_reads_features_only():
    model = toy()
    before = model.feature_stream_input(ITEMS)
    model.silence("item")
    silenced = model.encode(ITEMS, LENGTHS)
    with torch.no_grad():
        model.item_embedding.weight.mul_(3.0)
    assert torch.equal(model.feature_stream_input(ITEMS), before)
    assert torch.allclose(model.encode(ITEMS, LENGTHS), silenced, atol=1e-6)


def test_a_silenced_stream_adds_nothing():
    model = toy()
    model.silence("feature")
    positions = model.position_embedding.weight[:4]
    norm = lambda x: F.layer_norm(x, (8,), model.LayerNorm.weight, model.LayerNorm.bias, 1e-12)
    item_out = model.item_trm_encoder(norm(model.item_embedding.weight[ITEMS] + positions), causal_mask(ITEMS))
    expected = norm(model.heads["item"](item_out) + model.bias)[torch.arange(2), LENGTHS - 1]
    assert torch.allclose(model.encode(ITEMS, LENGTHS), expected, atol=1e-6)


def test_parameter_groups_cover_every_parameter_once():
    model = toy()
    groups = model.parameter_groups()
    assert set(groups) == {"item", "feature", "output"}
    grouped = [id(p) for params in groups.values() for p in params]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())
    assert id(model.item_embedding.weight) in map(id, groups["output"])
    assert id(model.feature_att_layer.projection[0].weight) in map(id, groups["feature"])


@pytest.mark.parametrize("strategy", ["alternating", "residual", "interleaving"])
def test_the_training_strategies_accept_fdsa(strategy):
    config = load_config("FDSA", "ml-100k", config_dict={"training_strategy": strategy})
    assert config.model_settings.subnets() == ("item", "feature")


def test_settings_are_recbole_s_fdsa_yaml():
    assert FDSASettings.defaults() == {
        "n_layers": 2, "n_heads": 2, "hidden_size": 64, "inner_size": 256, "hidden_dropout_prob": 0.5,
        "attn_dropout_prob": 0.5, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "initializer_range": 0.02,
        "selected_features": ["class"], "pooling_mode": "mean", "loss_type": "CE"}


@pytest.mark.parametrize("chunk_length", [6, 2])
def test_sequence_mode_loss_at_each_target_is_the_augment_loss_of_its_prefix(chunk_length):
    model = toy()
    inputs = torch.tensor([[1, 2, 3, 4, 5, 6], [7, 8, 9, 0, 0, 0]])
    targets = torch.tensor([[0, 3, 4, 5, 6, 7], [8, 9, 10, 0, 0, 0]])  # row 0 warms up on its first item
    batch = SequenceBatch(inputs, targets, torch.tensor([6, 3]))
    total, state = 0.0, None
    for chunk in batch.chunks(chunk_length):
        state = None if state is None else model.carry(state, chunk.inputs.shape[0])
        loss, state = model.sequence_loss(chunk, state)
        total = total + loss
    expected = [model.loss(Batch(inputs[row, :step + 1][None], torch.tensor([step + 1]), targets[row, step][None]))
                for row, step in zip(*torch.nonzero(targets, as_tuple=True))]
    assert len(expected) == 8 and torch.allclose(total, torch.stack(expected).sum(), atol=1e-5)


def test_hidden_size_not_a_multiple_of_n_heads_is_a_config_error_naming_both():
    with pytest.raises(ConfigError, match=r"FDSA.*hidden_size 10 must be a multiple of n_heads 3"):
        load_config("FDSA", "ml-100k", config_dict={"hidden_size": 10, "n_heads": 3})
