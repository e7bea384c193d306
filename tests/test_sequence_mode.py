"""Whole-sequence training and sampled softmax: the objective they compute and that they learn."""
import numpy as np
import pytest
import torch

from gru4recf import run_gru4recf
from gru4recf.data.batching import Batch, Candidates
from gru4recf.data.sampler import CandidateSampler
from gru4recf.data.sequence_batches import SequenceBatches
from gru4recf.data.split import leave_one_out
from gru4recf.models.registry import build_model, model_spec, models
from helpers import small_config, write_pattern_dataset
from model_contract import reads_step_by_step
from test_models import N_ITEMS, config, features


def user_data(lengths=(7, 3, 12, 5, 9)):
    rng = np.random.default_rng(0)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = rng.integers(1, 20, size=offsets[-1])
    return items, offsets


def test_every_training_target_appears_once_with_its_true_inputs():
    items, offsets = user_data()
    train = leave_one_out(offsets)["train"]
    batches = SequenceBatches(items, train, batch_size=6, seed=3)
    seen = []
    for batch in batches:
        assert torch.all(batch.lengths[:-1] >= batch.lengths[1:])  # longest first
        for row, length in enumerate(batch.lengths.tolist()):
            inputs, targets = batch.inputs[row, :length].numpy(), batch.targets[row, :length].numpy()
            assert np.all(batch.targets[row, length:].numpy() == 0)
            seen.append((tuple(inputs), tuple(targets)))
    expected = []
    for user in range(len(offsets) - 1):
        count = int((train.starts == offsets[user]).sum())
        if count:
            seq = items[offsets[user]: offsets[user] + count + 1]
            expected.append((tuple(seq[:-1]), tuple(seq[1:])))
    assert sorted(seen) == sorted(expected)
    assert sum(len(t) for _, t in seen) == len(train)


def test_segments_score_every_training_target_once_after_a_bounded_warm_up():
    _, offsets = user_data(lengths=(7, 3, 12, 5, 9, 20))
    items = np.arange(1, offsets[-1] + 1)  # distinct, so a row's inputs say where it starts
    train = leave_one_out(offsets)["train"]
    batches = SequenceBatches(items, train, batch_size=6, seed=3, segment_length=4, warmup=3)
    scored = []
    for batch in batches:
        for row, length in enumerate(batch.lengths.tolist()):
            inputs, targets = batch.inputs[row, :length].numpy(), batch.targets[row, :length].numpy()
            warm = int((targets == 0).sum())
            assert warm <= 3 and np.all(targets[:warm] == 0) and np.all(targets[warm:] != 0)
            assert 1 <= length - warm <= 4
            start = int(inputs[0]) - 1
            assert np.array_equal(inputs, items[start:start + length])
            user = np.searchsorted(offsets, start + warm, side="right") - 1
            assert start >= offsets[user]  # the warm-up never reaches into another user's sequence
            assert np.array_equal(targets[warm:], items[start + warm + 1: start + length + 1])
            scored += [start + warm + k + 1 for k in range(length - warm)]  # positions of the targets
    assert sorted(scored) == sorted(train.targets.tolist())
    assert sum(b.num_targets for b in batches) == len(train)


def test_one_target_per_segment_after_a_full_warm_up_gives_exactly_the_augment_examples():
    """The setting results.md uses to tell the sequence machinery from the arrangement of its targets."""
    _, offsets = user_data(lengths=(7, 3, 12, 5, 9, 20))
    items = np.arange(1, offsets[-1] + 1)
    train, window = leave_one_out(offsets)["train"], 5
    batches = SequenceBatches(items, train, batch_size=6, seed=3, segment_length=1, warmup=window - 1)
    seen = []
    for batch in batches:
        for row, length in enumerate(batch.lengths.tolist()):
            inputs, targets = batch.inputs[row, :length].numpy(), batch.targets[row, :length].numpy()
            assert np.count_nonzero(targets) == 1 and targets[-1] != 0
            seen.append((tuple(inputs), int(targets[-1])))
    expected = []
    for target in train.targets.tolist():
        start = offsets[np.searchsorted(offsets, target, side="right") - 1]
        expected.append((tuple(items[max(start, target - window): target]), int(items[target])))
    assert sorted(seen) == sorted(expected)


def test_an_epoch_has_as_many_steps_as_augment_and_shuffles_per_epoch():
    items, offsets = user_data(lengths=tuple(range(3, 30)))
    train = leave_one_out(offsets)["train"]
    batches = SequenceBatches(items, train, batch_size=40, seed=1)
    sizes = [b.num_targets for b in batches]
    assert len(sizes) == len(batches) == int(np.ceil(len(train) / 40))  # no user is longer than a batch
    assert sum(sizes) == len(train)
    first = [b.inputs[:, 0].tolist() for b in batches]
    batches.set_epoch(1)
    assert [b.inputs[:, 0].tolist() for b in batches] != first
    batches.set_epoch(0)
    assert [b.inputs[:, 0].tolist() for b in batches] == first


SEQUENCE_MODELS = sorted(name for name, spec in models().items()  # a step's output is that of its prefix
                         if "sequence" in spec.train_modes and reads_step_by_step(spec))


def user_ids(name: str, rows: int) -> dict:
    """The keyword giving `rows` rows their user ids, for the models that score users (Caser)."""
    return {"users": torch.arange(1, rows + 1)} if model_spec(name).needs_users else {}


@pytest.mark.parametrize("name", SEQUENCE_MODELS)
def test_step_outputs_equal_recbole_histories_within_the_first_chunk(name):
    torch.manual_seed(0)
    model = build_model(name, config(), N_ITEMS, features(), n_users=3).eval()
    inputs = torch.tensor([[3, 1, 4, 1, 5, 9]])
    steps, _ = model.encode_steps(inputs, **user_ids(name, 1))
    for t in range(inputs.shape[1]):
        history = inputs[:, : t + 1]
        assert torch.allclose(steps[:, t], model.encode(history, torch.tensor([t + 1]), **user_ids(name, 1)),
                              atol=1e-6)


@pytest.mark.parametrize("name", SEQUENCE_MODELS)
def test_carried_state_makes_chunks_equal_one_long_pass(name):
    torch.manual_seed(0)
    model = build_model(name, config(), N_ITEMS, features(), n_users=3).eval()
    inputs, users = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]]), user_ids(name, 2)
    whole, _ = model.encode_steps(inputs, **users)
    first, hidden = model.encode_steps(inputs[:, :3], **users)
    second, _ = model.encode_steps(inputs[:, 3:], model.carry(hidden, 2), **users)
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-6)


def test_sampled_softmax_over_the_whole_catalogue_is_full_softmax():
    torch.manual_seed(0)
    model = build_model("GRU4Rec", config(), N_ITEMS, features()).eval()
    history, lengths, targets = torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2]), torch.tensor([7, 2])
    every_item = Candidates(torch.arange(N_ITEMS), torch.zeros(N_ITEMS), torch.zeros(2))
    assert torch.allclose(model.loss(Batch(history, lengths, targets, candidates=every_item)),
                          model.loss(Batch(history, lengths, targets)), atol=1e-6)


def test_candidate_sampler_follows_popularity_and_corrects_by_log_q():
    counts = np.array([0, 100, 0, 25, 0])
    sampler = CandidateSampler(counts, num_samples=1000, alpha=1.0)
    drawn = sampler.draw(np.random.default_rng(0))
    assert set(np.unique(drawn)) == {1, 3}
    assert abs((drawn == 1).mean() - 0.8) < 0.05
    assert sampler.log_q[1] == pytest.approx(np.log(1000 * 0.8))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_pattern_dataset(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("overrides", [{"train_mode": "sequence"},
                                       {"train_mode": "sequence", "segment_length": None},
                                       {"train_mode": "sequence", "loss_type": "BPR"},
                                       {"train_mode": "sequence", "sampled_softmax": {"num_samples": 8}},
                                       {"sampled_softmax": {"num_samples": 8}}])
def test_training_modes_learn_a_predictable_pattern(overrides, data_dir, tmp_path):
    settings = small_config(data_dir, epochs=15, log_dir=str(tmp_path / "log"), dropout_prob=0.0,
                            train_batch_size=32, **overrides)
    result = run_gru4recf("GRU4RecF", "toy", settings, saved=False)
    assert result["test_result"]["hit@10"] > 0.6
