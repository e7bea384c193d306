"""SASRec: RecBole's computation (checked against an independent torch.nn.MultiheadAttention
version), its causality, its initialisation, the sequence-mode promise and its config errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gru4recf.data.batching import Batch
from gru4recf.data.sequence_batches import SequenceBatches
from gru4recf.data.split import Examples
from gru4recf.errors import ConfigError
from gru4recf.experiment import load_config
from gru4recf.models.registry import build_model
from gru4recf.models.sasrec import SASRecSettings

N_ITEMS = 20


def toy(**overrides) -> torch.nn.Module:
    values = {"n_layers": 2, "n_heads": 2, "hidden_size": 8, "inner_size": 12, "MAX_ITEM_LIST_LENGTH": 10,
              "hidden_dropout_prob": 0.0, "attn_dropout_prob": 0.0, **overrides}
    torch.manual_seed(0)
    model = build_model("SASRec", values, N_ITEMS).eval()
    with torch.no_grad():  # LayerNorms and biases away from RecBole's ones and zeros, so that they are tested too
        for name, parameter in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                parameter.add_(0.1 * torch.randn_like(parameter))
    return model


def independent(model, items: torch.Tensor) -> torch.Tensor:
    """SASRec's forward from the paper's blocks with torch's own MultiheadAttention, LayerNorm and
    gelu, weights taken from `model`: [B, L] -> [B, L, H]."""
    length = items.shape[1]
    hidden = model.item_embedding.weight[items] + model.position_embedding.weight[:length]
    hidden = F.layer_norm(hidden, hidden.shape[-1:], model.LayerNorm.weight, model.LayerNorm.bias, 1e-12)
    allowed = torch.tril(torch.ones(length, length, dtype=torch.bool)) & (items != 0).unsqueeze(1)  # [B, L, L]
    for block in model.trm_encoder.layer:
        mine = block.multi_head_attention
        attention = torch.nn.MultiheadAttention(hidden.shape[-1], mine.n_heads, batch_first=True)
        with torch.no_grad():
            attention.in_proj_weight.copy_(torch.cat([mine.query.weight, mine.key.weight, mine.value.weight]))
            attention.in_proj_bias.copy_(torch.cat([mine.query.bias, mine.key.bias, mine.value.bias]))
            attention.out_proj.weight.copy_(mine.dense.weight)
            attention.out_proj.bias.copy_(mine.dense.bias)
        mask = ~allowed.repeat_interleave(mine.n_heads, dim=0)  # [B * heads, L, L], True = not allowed
        attended, _ = attention(hidden, hidden, hidden, attn_mask=mask, need_weights=False)
        hidden = F.layer_norm(attended + hidden, hidden.shape[-1:], mine.LayerNorm.weight, mine.LayerNorm.bias, 1e-12)
        ff = block.feed_forward
        inner = F.linear(F.gelu(F.linear(hidden, ff.dense_1.weight, ff.dense_1.bias)), ff.dense_2.weight, ff.dense_2.bias)
        hidden = F.layer_norm(inner + hidden, hidden.shape[-1:], ff.LayerNorm.weight, ff.LayerNorm.bias, 1e-12)
    return hidden


def test_sasrec_computes_self_attention_blocks_as_torch_does():
    model = toy()
    items = torch.tensor([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5], [7, 0, 0, 0, 0]])
    lengths = torch.tensor([3, 5, 1])
    expected = independent(model, items)
    assert torch.allclose(model.encode_all(items), expected, atol=1e-5)
    assert torch.allclose(model.encode(items, lengths), expected[torch.arange(3), lengths - 1], atol=1e-5)


@pytest.mark.parametrize("activation, function", [("relu", F.relu), ("swish", F.silu), ("tanh", torch.tanh),
                                                  ("sigmoid", torch.sigmoid),
                                                  ("gelu", lambda x: x * torch.distributions.Normal(0.0, 1.0).cdf(x))])
def test_each_hidden_act_is_its_function(activation, function):
    model = toy(hidden_act=activation)
    x = torch.linspace(-3, 3, 13)
    assert torch.allclose(model.trm_encoder.layer[0].feed_forward.activation(x), function(x), atol=1e-6)


def test_a_later_item_never_changes_an_earlier_representation():
    model = toy()
    items = torch.tensor([[3, 4, 5, 6, 7]])
    changed = items.clone()
    changed[0, 3:] = torch.tensor([11, 12])
    before, after = model.encode_all(items), model.encode_all(changed)
    assert torch.equal(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])


def test_initialisation_is_recbole_s_normal_with_zero_biases_and_unit_layer_norms():
    torch.manual_seed(0)
    model = build_model("SASRec", {"initializer_range": 0.05}, 500)
    assert model.item_embedding.weight.std().item() == pytest.approx(0.05, rel=0.05)
    assert model.item_embedding.weight[0].abs().sum() > 0  # RecBole's init overwrites the padding row too
    assert model.position_embedding.weight.shape == (50, 64)  # MAX_ITEM_LIST_LENGTH positions
    assert model.trm_encoder.layer[1].feed_forward.dense_1.weight.std().item() == pytest.approx(0.05, rel=0.05)
    for name, parameter in model.named_parameters():
        if name.endswith("bias"):
            assert torch.count_nonzero(parameter) == 0, name
        elif "LayerNorm" in name:
            assert torch.equal(parameter, torch.ones_like(parameter)), name


def test_settings_are_recbole_s_sasrec_yaml():
    assert SASRecSettings.defaults() == {
        "n_layers": 2, "n_heads": 2, "hidden_size": 64, "inner_size": 256, "hidden_dropout_prob": 0.5,
        "attn_dropout_prob": 0.5, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "initializer_range": 0.02,
        "loss_type": "CE"}


def step_outputs(model, batch, chunk_length: int) -> torch.Tensor:
    """The outputs of every step of `batch`, read in chunks as the trainer reads them: [B, T, H]."""
    outputs, state = torch.zeros(*batch.inputs.shape, model.item_embedding.weight.shape[1]), None
    for number, chunk in enumerate(batch.chunks(chunk_length)):
        if state is not None:
            state = model.carry(state, chunk.inputs.shape[0])
        out, state = model.encode_steps(chunk.inputs, state)
        begin = number * chunk_length
        outputs[:out.shape[0], begin:begin + out.shape[1]] = out
    return outputs


@pytest.mark.parametrize("chunk_length", [10, 3])
def test_sequence_mode_loss_at_each_target_is_the_augment_loss_of_its_history(chunk_length):
    """Every target of a row (segments after their warm-up, read in chunks) is scored from exactly
    what `encode` gives for the row's items up to it: its loss is `loss` of that augment example."""
    model = toy()
    items = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 3, 5, 7, 9], dtype=np.int64)
    starts = np.array([0] * 13 + [14] * 3)
    examples = Examples(np.concatenate([np.arange(1, 14), np.arange(15, 18)]), starts)
    batches = SequenceBatches(items, examples, batch_size=100, segment_length=4, warmup=3)
    batch = next(iter(batches))
    assert int(batch.lengths.max()) == 7 and batch.inputs.shape[0] == 5  # rows of warm-up 3 + 4 targets
    outputs = step_outputs(model, batch, chunk_length)
    total, _ = model.sequence_loss(next(iter(batch.chunks(10))), None)
    losses = []
    for row, step in zip(*torch.nonzero(batch.targets, as_tuple=True)):
        history = batch.inputs[row, :step + 1].unsqueeze(0)
        example = Batch(history, torch.tensor([step + 1]), batch.targets[row, step].unsqueeze(0))
        augment = model.loss(example)
        mine = F.cross_entropy(outputs[row, step] @ model.item_embedding.weight.t(), batch.targets[row, step])
        assert torch.allclose(mine, augment, atol=1e-5), (row, step)
        losses.append(augment)
    assert len(losses) == batch.num_targets == 16
    assert torch.allclose(total, torch.stack(losses).sum(), atol=1e-4)


def test_hidden_size_not_a_multiple_of_n_heads_is_a_config_error_naming_both():
    with pytest.raises(ConfigError, match=r"SASRec.*hidden_size 10 must be a multiple of n_heads 3"):
        load_config("SASRec", "ml-100k", config_dict={"hidden_size": 10, "n_heads": 3})


def test_sequence_mode_defaults_fit_the_position_table():
    config = load_config("SASRec", "ml-100k", config_dict={"train_mode": "sequence"})
    assert config.segment_length + config.warmup_length <= config.MAX_ITEM_LIST_LENGTH


@pytest.mark.parametrize("values, message", [
    ({"warmup_length": 30}, r"model 'SASRec'.*warmup_length 30 \+ segment_length 25 = 55 exceeds MAX_ITEM_LIST_LENGTH 50"),
    ({"MAX_ITEM_LIST_LENGTH": 40}, r"warmup_length 25 \+ segment_length 25 = 50 exceeds MAX_ITEM_LIST_LENGTH 40"),
    ({"segment_length": None}, r"model 'SASRec'.*needs segments; set segment_length"),
])
def test_sequence_rows_longer_than_the_position_table_are_config_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        load_config("SASRec", "ml-100k", config_dict={"train_mode": "sequence", **values})
    load_config("SASRec", "ml-100k", config_dict=values)  # augment mode reads no rows
