"""Caser: RecBole's convolutions and its regularised loss written out by hand, its user ids, its keys."""
import pytest
import torch
import torch.nn.functional as F

from gru4recf import run_gru4recf
from gru4recf.data.batching import Batch
from gru4recf.data.sequence_batches import SequenceBatch
from gru4recf.errors import ConfigError
from gru4recf.experiment import load_config
from gru4recf.models.caser import Caser
from gru4recf.models.registry import model_spec
from gru4recf.models.spec import Catalogue, ModelSpec
from helpers import small_config, write_pattern_dataset
from sequence_invariant import assert_chunks_equal_augment

N_ITEMS, N_USERS = 12, 5


def caser(max_history: int = 4, **values) -> Caser:
    spec = model_spec("Caser")
    return spec.build(spec.parse({"embedding_size": 3, "nv": 2, "nh": 2, **values}),
                      Catalogue(N_ITEMS, n_users=N_USERS, max_history=max_history))


def caser_by_hand(model, items, user):
    """RecBole's Caser on one history: its last W items padded with item 0 to W rows [W, E]."""
    width = model.max_history
    items = list(items)[-width:]
    image = model.item_embedding.weight[items + [0] * (width - len(items))]  # [W, E]
    vertical = [] if model.conv_v is None else [
        sum(model.conv_v.weight[f, 0, r, 0] * image[r] for r in range(width)) + model.conv_v.bias[f]
        for f in range(model.conv_v.out_channels)]  # nv rows of [E]
    horizontal = []
    for conv in model.conv_h:
        height = conv.kernel_size[0]
        for f in range(conv.out_channels):
            windows = [(conv.weight[f, 0] * image[s:s + height]).sum() + conv.bias[f] for s in range(width - height + 1)]
            horizontal.append(torch.relu(torch.stack(windows)).max())
    hidden = torch.relu(model.fc1(torch.cat(vertical + ([torch.stack(horizontal)] if horizontal else []))))
    return torch.relu(model.fc2(torch.cat([hidden, model.user_embedding.weight[user]])))


def test_encode_is_recbole_caser_over_the_last_w_items():
    torch.manual_seed(0)
    model = caser(max_history=4).eval()
    history = torch.tensor([[1, 2, 3, 0, 0, 0], [4, 5, 0, 0, 0, 0], [6, 7, 8, 9, 10, 11]])
    lengths, users = torch.tensor([3, 2, 6]), torch.tensor([1, 2, 4])
    with torch.no_grad():
        got = model.encode(history, lengths, users)
        for row, length in enumerate(lengths.tolist()):
            expected = caser_by_hand(model, history[row, :length].tolist(), users[row])
            assert torch.allclose(got[row], expected, atol=1e-6), row


def test_loss_adds_recbole_s_l2_norms_weighted_by_reg_weight():
    torch.manual_seed(0)
    model = caser(reg_weight=0.01).eval()
    batch = Batch(torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2]), torch.tensor([4, 6]),
                  users=torch.tensor([1, 3]))
    with torch.no_grad():
        scores = torch.stack([caser_by_hand(model, [1, 2, 3], 1), caser_by_hand(model, [4, 5], 3)]) \
            @ model.item_embedding.weight.t()
        norm = lambda w: w.pow(2).sum().sqrt()
        named = [model.user_embedding.weight, model.item_embedding.weight, model.conv_v.weight, model.fc1.weight,
                 model.fc2.weight] + [conv.weight for conv in model.conv_h]  # not the biases
        expected = F.cross_entropy(scores, torch.tensor([4, 6])) + 0.01 * sum(norm(w) for w in named)
        assert float(model.loss(batch)) == pytest.approx(float(expected), rel=1e-6)
        free = caser(reg_weight=0.0).eval()
        free.load_state_dict(model.state_dict())
        assert float(free.loss(batch)) == pytest.approx(float(F.cross_entropy(scores, torch.tensor([4, 6]))), rel=1e-6)


def test_bpr_loss_against_the_batch_negatives():
    torch.manual_seed(0)
    model = caser(loss_type="BPR", reg_weight=0.0).eval()
    batch = Batch(torch.tensor([[1, 2, 3]]), torch.tensor([3]), torch.tensor([4]), torch.tensor([[7, 9]]),
                  users=torch.tensor([2]))
    with torch.no_grad():
        out = caser_by_hand(model, [1, 2, 3], 2)
        scores = model.item_embedding.weight[[4, 7, 9]] @ out
        expected = -torch.log(torch.sigmoid(scores[0] - scores[1:]) + 1e-10).mean()
        assert float(model.loss(batch)) == pytest.approx(float(expected), rel=1e-6)


def test_scores_depend_on_the_user_and_need_user_ids():
    torch.manual_seed(0)
    model = caser().eval()
    history, lengths = torch.tensor([[1, 2, 3], [1, 2, 3]]), torch.tensor([3, 3])
    scores = model.full_scores(Batch(history, lengths, torch.tensor([4, 4]), users=torch.tensor([1, 2])))
    assert not torch.allclose(scores[0], scores[1])
    with pytest.raises(TypeError, match="batches need user ids"):
        model.full_scores(Batch(history, lengths, torch.tensor([4, 4])))
    assert model_spec("Caser").needs_users and model_spec("Caser").train_modes == ("augment", "sequence")


ROWS = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [3, 1, 4, 1, 5, 9, 2], [2, 7, 1], [6, 5]]  # longest first
ROW_USERS = [1, 4, 2, 3]


@pytest.mark.parametrize("max_history", [1, 2, 4, 6])
@pytest.mark.parametrize("filters", [{"nv": 2, "nh": 2}, {"nv": 0, "nh": 3}, {"nv": 3, "nh": 0}])
def test_sequence_mode_gives_every_target_the_loss_of_its_own_window(max_history, filters):
    """Filters run along the row once; every target still gets `caser_by_hand`'s window of its
    history (short histories padded with item 0's row), whatever the chunk length."""
    torch.manual_seed(0)
    model = caser(max_history=max_history, reg_weight=0.01, **filters)
    for chunk_length in (1, 2, 3, 5, 20):
        assert assert_chunks_equal_augment(model, ROWS, chunk_length, users=ROW_USERS) == 10 + 6 + 2 + 1
    history, users = torch.tensor([ROWS[0][:9]]), torch.tensor([ROW_USERS[0]])
    with torch.no_grad():  # the output at step 8 against the hand-written model, not only against `encode`
        steps, _ = model.encode_steps(history, None, users)
        assert torch.allclose(steps[0, 8], caser_by_hand(model, ROWS[0][:9], users[0]), atol=1e-6)


def test_sequence_mode_gradients_are_the_augment_examples():
    """One batch of rows walked in chunks gives the gradients of the augment batch of all its targets
    (mean loss, the regularisation added once) for every weight, the padding row's included (the
    windows' padding rows send it none, as through the lookup's padding_idx)."""
    torch.manual_seed(0)
    model = caser(max_history=4, dropout_prob=0.0, reg_weight=0.01)
    width = max(len(row) for row in ROWS) - 1
    padded = lambda values: values + [0] * (width - len(values))
    inputs, targets = [padded(row[:-1]) for row in ROWS], [padded(row[1:]) for row in ROWS]
    batch = SequenceBatch(torch.tensor(inputs), torch.tensor(targets), torch.tensor([len(row) - 1 for row in ROWS]),
                          users=torch.tensor(ROW_USERS))
    total, state = 0.0, None
    for chunk in batch.chunks(3):
        state = None if state is None else model.carry(state, chunk.inputs.shape[0])
        loss, state = model.sequence_loss(chunk, state)
        total = total + loss
    (total / batch.num_targets).backward()
    chunked = {name: weight.grad.clone() for name, weight in model.named_parameters()}
    model.zero_grad()
    examples = [(row[:step + 1], row[step + 1], user)
                for row, user in zip(ROWS, ROW_USERS) for step in range(len(row) - 1)]
    augment = Batch(torch.tensor([padded(history) for history, _, _ in examples]),
                    torch.tensor([len(history) for history, _, _ in examples]),
                    torch.tensor([target for _, target, _ in examples]),
                    users=torch.tensor([user for _, _, user in examples]))
    model.loss(augment).backward()
    for name, weight in model.named_parameters():
        assert torch.allclose(chunked[name], weight.grad, rtol=1e-4, atol=1e-7), name


def test_sequence_mode_needs_user_ids():
    model = caser()
    with pytest.raises(TypeError, match="batches need user ids"):
        model.encode_steps(torch.tensor([[1, 2, 3]]))
    spec = model_spec("Caser")
    with pytest.raises(TypeError, match="'session_parallel' batches carry no user ids"):  # its rows change user
        ModelSpec("Caser", spec.settings, spec.module, spec.summary, needs_users=True,
                  train_modes=("augment", "session_parallel"))


def test_only_one_kind_of_filter():
    torch.manual_seed(0)
    history, lengths, users = torch.tensor([[1, 2, 3]]), torch.tensor([3]), torch.tensor([1])
    vertical = caser(nh=0).eval()
    assert len(vertical.conv_h) == 0 and vertical.fc1.in_features == 2 * 3
    horizontal = caser(nv=0).eval()
    assert horizontal.conv_v is None and horizontal.fc1.in_features == 2 * 4
    with torch.no_grad():
        assert vertical.encode(history, lengths, users).shape == horizontal.encode(history, lengths, users).shape == (1, 3)


def test_initialisation_is_recbole_s():
    """Embeddings normal(0, 1/E) (padding rows included), dense layers Xavier-normal with zero bias."""
    torch.manual_seed(0)
    model = Caser(1000, 800, max_history=10, embedding_size=64)
    for table in (model.item_embedding, model.user_embedding):
        assert table.weight.std().item() == pytest.approx(1 / 64, rel=0.05) and table.weight[0].abs().sum() > 0
    assert model.fc2.weight.std().item() == pytest.approx((2 / (128 + 64)) ** 0.5, rel=0.05)
    assert torch.count_nonzero(model.fc1.bias) == 0 and torch.count_nonzero(model.fc2.bias) == 0


def test_config_errors_name_the_keys():
    config = load_config("Caser", "ml-100k")
    assert (config["embedding_size"], config["dropout_prob"], config["reg_weight"], config["nv"], config["nh"],
            config["loss_type"]) == (64, 0.4, 1e-4, 4, 8, "CE")
    with pytest.raises(ConfigError, match="nv .* and nh .* are both 0"):
        load_config("Caser", "ml-100k", config_dict={"nv": 0, "nh": 0})
    with pytest.raises(ConfigError, match="model 'Caser' does not support train_mode 'session_parallel'; it supports: "
                                          "'augment', 'sequence'"):
        load_config("Caser", "ml-100k", config_dict={"train_mode": "session_parallel"})


def test_a_run_gives_caser_each_example_s_user(tmp_path):
    """Training, validation and test batches carry user ids, so a run trains and evaluates."""
    data = write_pattern_dataset(tmp_path / "data", n_users=20, n_items=12, length=8)
    result = run_gru4recf("Caser", "toy", small_config(data, epochs=1, log_dir=str(tmp_path / "log")), saved=False)
    assert 0.0 <= result["test_result"]["hit@10"] <= 1.0
