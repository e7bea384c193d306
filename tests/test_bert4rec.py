"""BERT4Rec: the [MASK] id is never ranked, masks follow mask_ratio and ft_ratio and are reproducible
from the seed, prediction appends [MASK] after the history, and RecBole 1.2.1's bugs come back
only when asked for."""
import pytest
import torch
import torch.nn.functional as F

from gru4recf.data.batching import Batch
from gru4recf.data.sequence_batches import Chunk
from gru4recf.errors import ConfigError
from gru4recf.experiment import load_config
from gru4recf.models.registry import build_model

N_ITEMS = 30
SMALL = {"hidden_size": 8, "inner_size": 16, "n_heads": 2, "hidden_dropout_prob": 0.0, "attn_dropout_prob": 0.0}


def model(max_history: int = 6, **values):
    torch.manual_seed(0)
    return build_model("BERT4Rec", {**SMALL, "MAX_ITEM_LIST_LENGTH": max_history, **values}, N_ITEMS)


def batch():
    history = torch.tensor([[3, 4, 5, 0, 0, 0], [7, 8, 9, 10, 11, 12], [2, 0, 0, 0, 0, 0]])
    return Batch(history, torch.tensor([3, 6, 1]), torch.tensor([6, 13, 3]))


def test_mask_token_is_an_extra_id_that_full_scores_never_ranks():
    net = model().eval()
    assert net.item_embedding.weight.shape[0] == N_ITEMS + 1 and net.mask_token == N_ITEMS
    with torch.no_grad():  # a [MASK] row that would outscore every item if it were a candidate
        net.item_embedding.weight[N_ITEMS] = 1e4 * net.forward(torch.tensor([[3, N_ITEMS]]))[0, 1]
    scores = net.full_scores(batch())
    assert scores.shape == (3, N_ITEMS) and torch.isfinite(scores).all()
    assert (scores.argmax(dim=1) < N_ITEMS).all()


def test_prediction_appends_mask_after_the_whole_history_and_drops_the_oldest_only_when_full():
    net = model()
    items, position = net.with_mask_appended(batch().history, batch().lengths)
    m = N_ITEMS
    assert items.tolist() == [[3, 4, 5, m, 0, 0], [8, 9, 10, 11, 12, m], [2, m, 0, 0, 0, 0]]
    assert position.tolist() == [3, 5, 1]
    short = net.with_mask_appended(torch.tensor([[3, 4]]), torch.tensor([2]))
    assert short[0].tolist() == [[3, 4, m]] and short[1].tolist() == [2]


def test_recbole_masking_reproduces_recbole_s_shift_of_every_row():
    net = model(recbole_masking=True)
    items, position = net.with_mask_appended(batch().history, batch().lengths)
    m = N_ITEMS
    assert items.tolist() == [[4, 5, m, 0, 0, 0], [8, 9, 10, 11, 12, m], [m, 0, 0, 0, 0, 0]]
    assert position.tolist() == [2, 5, 0]


def test_full_scores_read_the_output_at_the_appended_mask():
    net = model().eval()
    history = torch.tensor([[3, 4, 5]])
    output = net.forward(torch.tensor([[3, 4, 5, N_ITEMS]]))[0, 3]  # [H]
    expected = output @ net.item_embedding.weight[:N_ITEMS].t() + net.output_bias
    assert torch.allclose(net.full_scores(Batch(history, torch.tensor([3]), torch.tensor([1]))), expected[None],
                          atol=1e-6)


def test_attention_is_bidirectional():
    net = model().eval()
    before = net.forward(torch.tensor([[3, N_ITEMS, 5]]))[0, 1]
    after = net.forward(torch.tensor([[3, N_ITEMS, 9]]))[0, 1]
    assert not torch.allclose(before, after)


def test_masking_follows_mask_ratio_and_never_masks_padding():
    net = model(max_history=50, mask_ratio=0.3, ft_ratio=0.0)
    lengths = torch.randint(1, 51, (400,))
    history = torch.where(torch.arange(50) < lengths[:, None], torch.randint(1, N_ITEMS, (400, 50)), 0)
    torch.manual_seed(3)
    masked, targets = net.draw_masks(history, lengths)
    chosen = masked == N_ITEMS
    assert not chosen[history == 0].any()
    assert chosen.sum().item() / (history != 0).sum().item() == pytest.approx(0.3, abs=0.02)
    assert torch.equal(masked[~chosen], history[~chosen])
    assert torch.equal(targets[targets != 0], history[targets != 0]) and (masked[targets != 0] == N_ITEMS).all()
    # only the last int(0.3 * 50) = 15 masked positions of a row are scored
    for row in range(len(history)):
        positions = chosen[row].nonzero().flatten().tolist()
        assert (targets[row] != 0).nonzero().flatten().tolist() == positions[-15:]


def test_ft_ratio_one_masks_only_the_last_item():
    net = model(ft_ratio=1.0)
    masked, targets = net.draw_masks(batch().history, batch().lengths)
    m = N_ITEMS
    assert masked.tolist() == [[3, 4, m, 0, 0, 0], [7, 8, 9, 10, 11, m], [m, 0, 0, 0, 0, 0]]
    assert targets.tolist() == [[0, 0, 5, 0, 0, 0], [0, 0, 0, 0, 0, 12], [2, 0, 0, 0, 0, 0]]


def test_recbole_masking_skips_a_mask_at_the_first_position():
    masked, targets = model(ft_ratio=1.0, recbole_masking=True).draw_masks(batch().history, batch().lengths)
    assert masked[2, 0] == N_ITEMS and targets[2].tolist() == [0] * 6


def test_masks_and_loss_are_reproducible_from_the_seed():
    net = model(hidden_dropout_prob=0.2)
    losses = []
    for seed in (5, 5, 6):
        torch.manual_seed(seed)
        losses.append(net.loss(batch()).item())
    assert losses[0] == losses[1] != losses[2]


def test_cloze_loss_is_cross_entropy_at_the_masked_positions_over_items_only():
    net = model().eval()
    m = N_ITEMS
    masked = torch.tensor([[3, m, 5, m], [m, 8, 0, 0]])
    targets = torch.tensor([[0, 4, 0, 6], [7, 0, 0, 0]])
    output = net.forward(masked)
    logits = torch.stack([output[0, 1], output[0, 3], output[1, 0]]) @ net.item_embedding.weight[:m].t()
    log_p = F.log_softmax(logits + net.output_bias, dim=-1)
    expected = -(log_p[0, 4] + log_p[1, 6] + log_p[2, 7]) / 3
    assert torch.allclose(net.cloze_loss(masked, targets), expected, atol=1e-6)


def test_bpr_cloze_loss_uses_the_output_bias_and_negatives_outside_the_history():
    net = model(loss_type="BPR").eval()
    m = N_ITEMS
    masked, targets, negatives = torch.tensor([[3, m, 5]]), torch.tensor([[0, 4, 0]]), torch.tensor([[0, 9, 0]])
    output = net.forward(masked)[0, 1]
    bias = net.output_bias
    gap = output @ net.item_embedding.weight[4] + bias[4] - output @ net.item_embedding.weight[9] - bias[9]
    assert torch.allclose(net.cloze_loss(masked, targets, negatives), -torch.log(1e-14 + torch.sigmoid(gap)))
    history = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]])
    drawn = net.draw_negatives(history.repeat(50, 1))
    assert (drawn > 15).all() and (drawn < N_ITEMS).all()


def test_mask_ratio_that_scores_nothing_is_a_config_error():
    with pytest.raises(ConfigError, match=r"mask_ratio 0.01 with MAX_ITEM_LIST_LENGTH 50 scores none"):
        load_config("BERT4Rec", "ml-100k", config_dict={"mask_ratio": 0.01})


def test_sampled_softmax_is_a_config_error():
    with pytest.raises(ConfigError, match="BERT4Rec.*sampled_softmax does not apply"):
        load_config("BERT4Rec", "ml-100k", config_dict={"sampled_softmax": {"num_samples": 10, "alpha": 0.5}})


def test_session_parallel_mode_is_a_config_error_naming_the_supported_modes():
    with pytest.raises(ConfigError, match="BERT4Rec' does not support train_mode 'session_parallel'.*'augment'"):
        load_config("BERT4Rec", "ml-100k", config_dict={"train_mode": "session_parallel"})


def test_sequence_mode_window_is_the_row_with_its_last_target_appended():
    inputs = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
    targets = torch.tensor([[0, 0, 6, 9], [8, 2, 0, 0]])  # row 0: two warm-up steps, then targets 6 and 9
    items, lengths = model().windows(Chunk(inputs, targets, None))
    assert items.tolist() == [[3, 4, 5, 6, 9], [7, 8, 2, 0, 0]] and lengths.tolist() == [5, 3]


def test_sequence_loss_is_the_cloze_loss_of_the_windows_scaled_to_the_chunk_s_targets():
    net = model(ft_ratio=0.0, mask_ratio=0.5).eval()
    inputs, targets = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]]), torch.tensor([[0, 0, 6, 9], [8, 2, 0, 0]])
    torch.manual_seed(4)
    loss, state = net.sequence_loss(Chunk(inputs, targets, None), None)
    torch.manual_seed(4)  # the same draws over the windows written out by hand
    masked, scored = net.draw_masks(torch.tensor([[3, 4, 5, 6, 9], [7, 8, 2, 0, 0]]), torch.tensor([5, 3]))
    assert state is None and (scored != 0).any()
    assert torch.allclose(loss, 4 * net.cloze_loss(masked, scored), atol=1e-6)  # the chunk has 4 targets


def test_sequence_mode_needs_windows_that_fit_the_positions_in_one_chunk():
    sequence = {"train_mode": "sequence"}
    config = load_config("BERT4Rec", "ml-100k", config_dict=sequence)  # its defaults: windows of 0 + 49 + 1
    assert (config["segment_length"], config["warmup_length"]) == (49, 0)
    with pytest.raises(ConfigError, match=r"warmup_length 10 \+ segment_length 40 \+ 1 = 51 does not fit; "
                                          r"set warmup_length \+ segment_length <= 49"):
        load_config("BERT4Rec", "ml-100k", config_dict={**sequence, "warmup_length": 10, "segment_length": 40})
    with pytest.raises(ConfigError, match="segment_length None"):
        load_config("BERT4Rec", "ml-100k", config_dict={**sequence, "segment_length": None})
    with pytest.raises(ConfigError, match=r"chunk_length 20 is shorter than warmup_length \+ segment_length = 49"):
        load_config("BERT4Rec", "ml-100k", config_dict={**sequence, "chunk_length": 20})
