"""SASRecF: SASRec over a dense layer of [item ; features]; with no feature contribution it is
SASRec, features of every kind enter, its initialisation is RecBole's, and train_mode 'sequence'
scores each target exactly as its augment example."""
import pytest
import torch
import torch.nn.functional as F

from gru4recf.data.batching import Batch
from gru4recf.data.sequence_batches import SequenceBatch
from gru4recf.errors import ConfigError
from gru4recf.experiment import load_config
from gru4recf.models.registry import build_model
from gru4recf.models.sasrecf import SASRecFSettings
from model_contract import N_ITEMS, features

TOY = {"n_layers": 2, "n_heads": 2, "hidden_size": 8, "inner_size": 12, "MAX_ITEM_LIST_LENGTH": 10,
       "hidden_dropout_prob": 0.0, "attn_dropout_prob": 0.0}


def toy(name: str = "SASRecF", **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    fields = features() if name != "SASRec" else []
    return build_model(name, {**TOY, "selected_features": ["class", "kind", "year", "vec"], **overrides}, N_ITEMS,
                       fields).eval()


def test_without_feature_contribution_sasrecf_is_sasrec():
    sasrec, sasrecf = toy("SASRec"), toy()
    with torch.no_grad():
        for name, parameter in sasrec.named_parameters():
            sasrecf.get_parameter(name).copy_(parameter)
        size = TOY["hidden_size"]
        sasrecf.concat_layer.weight.zero_()
        sasrecf.concat_layer.weight[:, :size] = torch.eye(size)  # the item block passes the item embedding on
        sasrecf.concat_layer.bias.zero_()
    items, lengths = torch.tensor([[1, 2, 3, 0], [4, 5, 6, 7]]), torch.tensor([3, 4])
    assert torch.allclose(sasrecf.encode(items, lengths), sasrec.encode(items, lengths), atol=1e-6)


def test_input_is_the_dense_layer_over_item_and_feature_embeddings_plus_positions():
    model = toy()
    items = torch.tensor([[1, 2, 3, 0]])
    captured = {}
    model.trm_encoder.register_forward_hook(lambda module, args, out: captured.setdefault("input", args[0]))
    model.encode_all(items)
    joined = torch.cat([model.item_embedding.weight[items], model.features(items)], dim=-1)  # [1, 4, 8 + 4 * 8]
    expected = F.layer_norm(joined @ model.concat_layer.weight.t() + model.concat_layer.bias
                            + model.position_embedding.weight[:4], (8,), model.LayerNorm.weight, model.LayerNorm.bias,
                            1e-12)
    assert model.concat_layer.in_features == 8 * (1 + 4)  # one slot per feature, float_seq included
    assert torch.allclose(captured["input"], expected, atol=1e-6)


@pytest.mark.parametrize("feature", ["class", "kind", "year", "vec"])
def test_every_feature_kind_changes_the_representation(feature):
    torch.manual_seed(0)
    model = build_model("SASRecF", {**TOY, "selected_features": [feature]}, N_ITEMS,
                        [f for f in features() if f.name == feature]).eval()
    items, lengths = torch.tensor([[1, 2, 3]]), torch.tensor([3])
    before = model.encode(items, lengths)
    with torch.no_grad():
        model.features.encoders[0].weight.mul_(5.0)
    assert not torch.allclose(model.encode(items, lengths), before)


def test_initialisation_is_recbole_s_normal_for_every_table_including_features():
    torch.manual_seed(0)
    fields = features()
    model = build_model("SASRecF", {"initializer_range": 0.05, "selected_features": ["class"]}, 400, fields[:1])
    table = model.features.encoders[0].weight  # token_seq: an EmbeddingBag here, nn.Embedding in RecBole
    for weight in (model.item_embedding.weight, model.concat_layer.weight, table):
        assert weight.std().item() == pytest.approx(0.05, rel=0.3)
    for name, parameter in model.named_parameters():
        if name.endswith("bias"):
            assert torch.count_nonzero(parameter) == 0, name
        elif "LayerNorm" in name:
            assert torch.equal(parameter, torch.ones_like(parameter)), name


def test_settings_are_recbole_s_sasrecf_yaml():
    assert SASRecFSettings.defaults() == {
        "n_layers": 2, "n_heads": 2, "hidden_size": 64, "inner_size": 256, "hidden_dropout_prob": 0.5,
        "attn_dropout_prob": 0.5, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "initializer_range": 0.02,
        "selected_features": ["class"], "pooling_mode": "sum", "loss_type": "CE"}
    assert SASRecFSettings.parse({"selected_features": ["class", "year"]}).item_features() == ["class", "year"]


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
    with pytest.raises(ConfigError, match=r"SASRecF.*hidden_size 10 must be a multiple of n_heads 3"):
        load_config("SASRecF", "ml-100k", config_dict={"hidden_size": 10, "n_heads": 3})


def test_sequence_rows_longer_than_the_position_table_are_a_config_error():
    load_config("SASRecF", "ml-100k", config_dict={"train_mode": "sequence"})  # the defaults fit
    with pytest.raises(ConfigError, match=r"model 'SASRecF'.*exceeds MAX_ITEM_LIST_LENGTH 40"):
        load_config("SASRecF", "ml-100k", config_dict={"train_mode": "sequence", "MAX_ITEM_LIST_LENGTH": 40})
