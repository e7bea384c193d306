"""token_seq feature tables are ragged: the memory of the table, of the model's copy and of the
checkpoint follows the number of tokens, not n_items x the longest cell, and pooling gives what
pooling each item's own tokens gives (sum, mean, max; an item without tokens gets zeros).

Expected values come from plain Python loops over each item's tokens, never from the encoder.
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from gru4recf import load_model, run_gru4recf
from gru4recf.data.dataset import load_dataset
from gru4recf.data.features import FeatureField
from gru4recf.data.settings import DataSettings
from gru4recf.models.layers import ItemFeatureEncoder
from gru4recf.training.checkpoint import read_checkpoint
from helpers import small_config

VOCAB = np.array(["[PAD]"] + [f"t{k}" for k in range(1, 9)], dtype=object)
TOKENS = [[], [3], [1, 2, 2], [], [8, 1, 4, 5, 6, 7, 2], [5], [4, 4]]  # by item id; 0 = padding item


def pooled_by_hand(weight: torch.Tensor, ids: list, mode: str) -> torch.Tensor:
    """One item's pooled embedding, token by token."""
    if not ids:
        return torch.zeros(weight.shape[1])
    total = weight[ids[0]].clone()
    for token in ids[1:]:
        total = torch.maximum(total, weight[token]) if mode == "max" else total + weight[token]
    return total / len(ids) if mode == "mean" else total


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_pooling_equals_pooling_each_items_own_tokens(mode):
    torch.manual_seed(0)
    encoder = ItemFeatureEncoder([FeatureField.from_token_lists("tags", TOKENS, VOCAB)], 4, mode)
    weight = encoder.encoders[0].weight.detach()
    items = torch.tensor([[4, 2, 0, 4], [6, 1, 3, 5]])  # [B=2, L=4], repeats and empty items included
    out = encoder(items).detach()  # [2, 4, 4]
    for b in range(2):
        for step in range(4):
            expected = pooled_by_hand(weight, TOKENS[int(items[b, step])], mode)
            assert torch.allclose(out[b, step], expected, rtol=1e-6, atol=1e-7), (b, step)


def test_gradients_reach_exactly_the_pooled_tokens():
    torch.manual_seed(0)
    encoder = ItemFeatureEncoder([FeatureField.from_token_lists("tags", TOKENS, VOCAB)], 4, "sum")
    encoder(torch.tensor([2, 6])).sum().backward()
    grad = encoder.encoders[0].weight.grad
    counts = np.bincount(TOKENS[2] + TOKENS[6], minlength=len(VOCAB))  # t2 twice in item 2, t4 twice in item 6
    assert torch.equal(grad, torch.as_tensor(counts, dtype=torch.float32)[:, None].expand(-1, 4))


def test_take_keeps_each_items_tokens_in_the_new_order():
    field = FeatureField.from_token_lists("tags", TOKENS, VOCAB)
    picked = field.take(np.array([0, 4, 2, 3, 6]))
    assert [picked.tokens_of(i).tolist() for i in range(5)] == [TOKENS[k] for k in (0, 4, 2, 3, 6)]
    assert picked.offsets.tolist() == [0, 0, 7, 10, 10, 12]


# ---- one item with far more tokens than the rest ------------------------------------------------

LONG = 10_000


@pytest.fixture(scope="module")
def long_cell(tmp_path_factory) -> Path:
    """30 items with 1-3 tags each, item '7' with 10,000 (from 500 distinct tags); users walk the
    catalogue as in helpers.write_pattern_dataset."""
    folder = tmp_path_factory.mktemp("long")
    data = folder / "long"
    data.mkdir()
    rows = ["user_id:token\titem_id:token\ttimestamp:float"]
    rng = np.random.default_rng(0)
    for user in range(30):
        start = int(rng.integers(30))
        rows += [f"u{user}\t{(start + step) % 30}\t{1000 + 10 * step + user}" for step in range(8)]
    (data / "long.inter").write_text("\n".join(rows) + "\n", encoding="utf-8")
    items = ["item_id:token\ttags:token_seq"]
    for item in range(30):
        count = LONG if item == 7 else 1 + item % 3
        items.append(f"{item}\t" + " ".join(f"g{(item + k) % 500}" for k in range(count)))
    (data / "long.item").write_text("\n".join(items) + "\n", encoding="utf-8")
    return folder


def expected_tokens() -> int:  # 10,000 + (1 + 2 + 3) x 10 - 2 (item 7 would have had 2) = 10,058
    return LONG + sum(1 + item % 3 for item in range(30) if item != 7)


def test_the_table_holds_the_total_token_count_not_items_times_the_longest_cell(long_cell):
    data = load_dataset(DataSettings("long", str(long_cell), selected_features=["tags"]))
    (tags,) = data.item_features
    assert data.n_items == 31  # 30 items and padding
    assert tags.values.size == expected_tokens() == 10_058 and tags.offsets.size == 31 + 1
    long_id = int(np.flatnonzero(data.item_tokens == "7")[0])
    assert len(tags.tokens_of(long_id)) == LONG
    assert tags.vocab[tags.tokens_of(long_id)][:3].tolist() == ["g7", "g8", "g9"]  # the file's order

    torch.manual_seed(0)
    encoder = ItemFeatureEncoder([tags], 4, "mean")
    assert sum(buffer.numel() for buffer in encoder.buffers()) == expected_tokens() + 32  # values + offsets
    weight = encoder.encoders[0].weight.detach().double()
    by_hand = weight[torch.as_tensor(tags.tokens_of(long_id))].mean(0)  # float64: no rounding to speak of
    assert torch.allclose(encoder(torch.tensor([long_id]))[0].double(), by_hand, atol=1e-6)


def test_checkpoints_of_a_long_cell_store_the_ragged_table_once(long_cell, tmp_path):
    config = small_config(long_cell, dataset="long", epochs=1, selected_features=["tags"], state="WARNING",
                          log_dir=str(tmp_path / "log"), checkpoint_dir=str(tmp_path / "saved"),
                          results_dir=str(tmp_path / "results"))
    run_gru4recf("GRU4RecF", "long", config)
    for path in sorted((tmp_path / "saved").glob("*.pth")):  # the best and the 'last' checkpoint
        checkpoint = read_checkpoint(path)
        assert checkpoint.item_features["tags"].numel() == expected_tokens(), path.name
        assert checkpoint.feature_offsets["tags"].numel() == 31 + 1, path.name
        assert not any("table" in key or "offsets" in key for key in checkpoint.state_dict), path.name
        assert max(t.numel() for t in checkpoint.state_dict.values()) < expected_tokens()  # no table in weights
    best = next(p for p in (tmp_path / "saved").glob("*.pth") if not p.name.endswith(".last.pth"))
    assert len(load_model(best).recommend(["6"], k=3).items) == 3
