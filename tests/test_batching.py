"""Batches of (history, length, target[, negatives]) and the negative sampler behind them."""

import numpy as np
import pytest
import torch

from gru4recf.data.batching import Batch, HistoryBatches, histories
from gru4recf.data.sampler import NegativeSampler
from gru4recf.data.split import Examples, leave_one_out
from gru4recf.errors import DatasetError

# two users: positions 0-3 hold items 10..13, positions 4-6 hold items 20..22
ITEMS = np.array([10, 11, 12, 13, 20, 21, 22], dtype=np.int64)


def reference_history(items, target: int, start: int, max_len: int) -> list:
    """The items before `target` within its user, the last `max_len` of them."""
    return items[start:target].tolist()[-max_len:]


def unpad(history: np.ndarray, lengths: np.ndarray) -> list:
    return [row[:n].tolist() for row, n in zip(history, lengths)]


def all_examples(counts) -> tuple:
    """Interaction array with a distinct item id per position (so a target names its position),
    and every next-item example of users with the given numbers of interactions."""
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    items = np.arange(1, offsets[-1] + 1, dtype=np.int64)
    targets = np.concatenate([np.arange(s + 1, e) for s, e in zip(offsets[:-1], offsets[1:])])
    starts = np.concatenate([np.full(max(e - s - 1, 0), s) for s, e in zip(offsets[:-1], offsets[1:])])
    return items, Examples(targets.astype(np.int64), starts.astype(np.int64))


# ---- histories --------------------------------------------------------------------------------

def test_histories_are_right_padded_and_truncated_to_the_last_max_len():
    targets, starts = np.array([1, 3, 5, 6]), np.array([0, 0, 4, 4])
    history, lengths = histories(ITEMS, targets, starts, max_len=2)
    assert history.tolist() == [[10, 0], [11, 12], [20, 0], [20, 21]]
    assert lengths.tolist() == [1, 2, 1, 2]


def test_histories_never_cross_the_user_start():
    targets, starts = np.array([5, 6]), np.array([4, 4])
    history, lengths = histories(ITEMS, targets, starts, max_len=10)
    assert history.tolist() == [[20, 0], [20, 21]]  # 13 belongs to the previous user
    assert lengths.tolist() == [1, 2]


def test_histories_width_is_the_longest_history_in_the_batch():
    history, lengths = histories(ITEMS, np.array([1, 3]), np.array([0, 0]), max_len=50)
    assert history.tolist() == [[10, 0, 0], [10, 11, 12]]
    assert lengths.tolist() == [1, 3]


@pytest.mark.parametrize("max_len", [1, 3, 50])
def test_histories_match_a_loop_on_random_users(max_len):
    items, examples = all_examples(np.random.default_rng(max_len).integers(0, 30, size=40))
    history, lengths = histories(items, examples.targets, examples.starts, max_len)
    expected = [reference_history(items, t, s, max_len) for t, s in zip(examples.targets, examples.starts)]
    assert unpad(history, lengths) == expected
    padding = np.arange(history.shape[1])[None, :] >= lengths[:, None]
    assert not history[padding].any()


# ---- HistoryBatches ---------------------------------------------------------------------------

def targets_of(batches) -> list:
    return [batch.targets.tolist() for batch in batches]


def flat(nested) -> list:
    return [x for part in nested for x in part]


@pytest.fixture
def data():
    return all_examples([5, 1, 8, 3, 12, 2, 7])  # 31 examples


def test_len_is_the_number_of_batches(data):
    items, examples = data
    for batch_size in (1, 4, 31, 32, 100):
        batches = HistoryBatches(items, examples, max_len=4, batch_size=batch_size, shuffle=True)
        sizes = [len(batch) for batch in batches]
        assert len(batches) == len(sizes) == -(-31 // batch_size)
        assert all(size == batch_size for size in sizes[:-1]) and sum(sizes) == 31


def test_each_epoch_covers_every_example_exactly_once(data):
    items, examples = data
    batches = HistoryBatches(items, examples, max_len=4, batch_size=6, shuffle=True, seed=3)
    for epoch in range(3):
        batches.set_epoch(epoch)
        assert sorted(flat(targets_of(batches))) == sorted(items[examples.targets].tolist())


def test_batches_carry_the_history_of_their_targets(data):
    items, examples = data
    start_of = dict(zip(examples.targets.tolist(), examples.starts.tolist()))
    for batch in HistoryBatches(items, examples, max_len=3, batch_size=5, shuffle=True, seed=1):
        assert batch.history.dtype == batch.lengths.dtype == batch.targets.dtype == torch.int64
        assert batch.history.shape[0] == len(batch.lengths) == len(batch.targets)
        assert (batch.lengths >= 1).all() and batch.negatives is None
        positions = (batch.targets - 1).tolist()  # item id = position + 1
        expected = [reference_history(items, p, start_of[p], 3) for p in positions]
        assert unpad(batch.history.numpy(), batch.lengths.numpy()) == expected


def test_shuffle_is_reproducible_for_the_same_seed_and_epoch(data):
    items, examples = data
    first = HistoryBatches(items, examples, max_len=4, batch_size=8, shuffle=True, seed=7)
    second = HistoryBatches(items, examples, max_len=4, batch_size=8, shuffle=True, seed=7)
    first.set_epoch(2)
    second.set_epoch(2)
    assert targets_of(first) == targets_of(second)
    assert targets_of(first) == targets_of(first)  # iterating again repeats the epoch


def test_shuffle_differs_between_epochs_and_seeds(data):
    items, examples = data
    batches = HistoryBatches(items, examples, max_len=4, batch_size=8, shuffle=True, seed=7)
    epoch_0 = targets_of(batches)
    batches.set_epoch(1)
    assert targets_of(batches) != epoch_0
    assert flat(epoch_0) != sorted(flat(epoch_0))  # actually shuffled
    other_seed = HistoryBatches(items, examples, max_len=4, batch_size=8, shuffle=True, seed=8)
    assert targets_of(other_seed) != epoch_0


def test_evaluation_batches_keep_the_example_order(data):
    items, examples = data
    batches = HistoryBatches(items, examples, max_len=4, batch_size=8)
    for epoch in (0, 5):
        batches.set_epoch(epoch)
        assert flat(targets_of(batches)) == items[examples.targets].tolist()


def test_split_examples_feed_the_batches():
    counts = [4, 3, 6]  # items 1-4, 5-7 and 8-13
    items, _ = all_examples(counts)
    test = leave_one_out(np.concatenate([[0], np.cumsum(counts)]))["test"]
    (batch,) = HistoryBatches(items, test, max_len=3, batch_size=10)
    assert batch.targets.tolist() == [4, 7, 13]
    assert unpad(batch.history.numpy(), batch.lengths.numpy()) == [[1, 2, 3], [5, 6], [10, 11, 12]]


def test_no_examples_give_no_batches():
    empty = Examples(np.zeros(0, np.int64), np.zeros(0, np.int64))
    batches = HistoryBatches(ITEMS, empty, max_len=4, batch_size=8, shuffle=True)
    assert len(batches) == 0 and list(batches) == []


def test_negatives_have_shape_b_by_n_and_never_hit_the_target(data):
    items, examples = data
    sampler = NegativeSampler(n_items=len(items) + 1)
    batches = HistoryBatches(items, examples, max_len=4, batch_size=8, shuffle=True,
                             sampler=sampler, num_negatives=5)
    for batch in batches:
        assert batch.negatives.shape == (len(batch), 5)
        assert batch.negatives.dtype == torch.int64
        assert not (batch.negatives == batch.targets[:, None]).any()
        assert ((batch.negatives >= 1) & (batch.negatives <= len(items))).all()


def test_negatives_are_reproducible_for_the_same_seed_and_epoch(data):
    items, examples = data
    make = lambda: HistoryBatches(items, examples, max_len=4, batch_size=8, shuffle=True, seed=4,
                                  sampler=NegativeSampler(len(items) + 1), num_negatives=2)
    first, second = make(), make()
    negatives = [torch.cat([b.negatives for b in batches]) for batches in (first, second)]
    assert torch.equal(*negatives)
    first.set_epoch(1)
    assert not torch.equal(torch.cat([b.negatives for b in first]), negatives[0])


def test_batch_to_moves_every_tensor():
    batch = Batch(torch.zeros(2, 3, dtype=torch.long), torch.ones(2, dtype=torch.long),
                  torch.ones(2, dtype=torch.long), torch.ones(2, 4, dtype=torch.long))
    moved = batch.to(torch.device("cpu"))
    assert [t.device.type for t in (moved.history, moved.lengths, moved.targets, moved.negatives)] == ["cpu"] * 4
    assert Batch(batch.history, batch.lengths, batch.targets).to(torch.device("cpu")).negatives is None


# ---- NegativeSampler --------------------------------------------------------------------------

def test_uniform_sampler_never_draws_padding_or_the_positive():
    rng = np.random.default_rng(0)
    positives = rng.integers(1, 6, size=4000)
    negatives = NegativeSampler(6).sample(positives, 5, rng)
    assert negatives.shape == (4000, 5)
    assert negatives.min() >= 1 and negatives.max() <= 5
    assert not (negatives == positives[:, None]).any()


def test_uniform_sampler_is_uniform_over_the_other_items():
    rng = np.random.default_rng(1)
    negatives = NegativeSampler(6).sample(np.full(20000, 3), 1, rng).ravel()
    counts = np.bincount(negatives, minlength=6)
    assert counts[0] == counts[3] == 0
    observed = counts[[1, 2, 4, 5]]
    chi2 = ((observed - 5000) ** 2 / 5000).sum()
    assert chi2 < 20, observed  # 3 degrees of freedom; p < 0.001 at 16.3


def chi_square(draws: np.ndarray, weights: np.ndarray) -> float:
    expected = weights / weights.sum() * len(draws)
    observed = np.bincount(draws, minlength=len(weights))
    support = expected > 0
    return float(((observed[support] - expected[support]) ** 2 / expected[support]).sum())


COUNTS = np.array([7, 50, 0, 10, 30, 0, 10])  # item 0 is padding: its count must not matter


def test_popularity_sampler_draws_only_items_with_training_interactions():
    rng = np.random.default_rng(2)
    positives = rng.integers(1, 7, size=4000)
    negatives = NegativeSampler(7, "popularity", COUNTS).sample(positives, 5, rng)
    assert set(np.unique(negatives).tolist()) == {1, 3, 4, 6}
    assert not (negatives == positives[:, None]).any()


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
def test_popularity_frequencies_follow_counts_to_the_power_alpha(alpha):
    rng = np.random.default_rng(3)
    sampler = NegativeSampler(7, "popularity", COUNTS, alpha=alpha)
    draws = sampler.sample(np.full(20000, 2), 1, rng).ravel()  # item 2 is never drawn: no redraws
    weights = COUNTS.astype(float) ** alpha
    weights[0] = 0
    assert chi_square(draws, weights) < 20  # 3 degrees of freedom


def test_popularity_redraws_the_positive_in_proportion_to_the_others():
    rng = np.random.default_rng(4)
    draws = NegativeSampler(7, "popularity", COUNTS).sample(np.full(20000, 1), 1, rng).ravel()
    assert not (draws == 1).any()
    assert chi_square(draws, np.array([0, 0, 0, 10, 30, 0, 10], dtype=float)) < 20  # 2 d.o.f.


def test_popularity_with_alpha_zero_still_draws_only_items_with_interactions():
    rng = np.random.default_rng(5)
    draws = NegativeSampler(7, "popularity", COUNTS, alpha=0.0).sample(np.full(5000, 1), 1, rng)
    assert set(np.unique(draws).tolist()) <= {3, 4, 6}


def test_sampler_does_not_change_the_given_counts():
    counts = COUNTS.copy()
    NegativeSampler(7, "popularity", counts, alpha=0.5)
    assert counts.tolist() == COUNTS.tolist()


def test_sampler_draws_are_reproducible_for_a_seeded_generator():
    sampler = NegativeSampler(7, "popularity", COUNTS)
    positives = np.array([1, 3, 4, 6])
    first = sampler.sample(positives, 3, np.random.default_rng(9))
    assert first.tolist() == sampler.sample(positives, 3, np.random.default_rng(9)).tolist()


@pytest.mark.parametrize("n_items", [1, 2])
def test_too_few_items_for_negative_sampling_is_an_error(n_items):
    with pytest.raises(DatasetError, match="at least two items besides the positive"):
        NegativeSampler(n_items)


def test_popularity_with_fewer_than_two_trained_items_is_an_error():
    with pytest.raises(DatasetError, match="at least two items with training interactions"):
        NegativeSampler(4, "popularity", np.array([9, 0, 5, 0]))  # the padding count does not help


def test_batches_carry_each_example_s_user_when_the_model_needs_them():
    from gru4recf.data.batching import HistoryBatches
    from gru4recf.data.split import leave_one_out
    from gru4recf.experiment import example_users

    offsets = np.array([0, 4, 9, 13], dtype=np.int64)  # users 0, 1, 2 (ids as in SequenceDataset's offsets)
    items = np.arange(1, 14, dtype=np.int64)
    train = leave_one_out(offsets)["train"]
    users = example_users(offsets, train)
    expected = np.repeat([0, 1, 2], [1, 2, 1])  # 3, 4, 3 targets per user, two held out each
    assert users.tolist() == expected.tolist()
    batches = list(HistoryBatches(items, train, 3, batch_size=2, shuffle=True, seed=1, users=users))
    for batch in batches:
        owners = np.searchsorted(offsets, batch.targets.numpy() - 1, side="right") - 1  # target item id - 1 = position
        assert batch.users.tolist() == owners.tolist()
    assert sum(len(b) for b in batches) == len(train)


@pytest.mark.parametrize("segment_length", [None, 2])
def test_sequence_batches_carry_each_row_s_user_and_their_chunks_keep_it(segment_length):
    from gru4recf.data.sequence_batches import SequenceBatches
    from gru4recf.experiment import example_users

    offsets = np.array([0, 4, 12, 15, 22], dtype=np.int64)  # users of 4, 8, 3 and 7 items
    items = np.arange(1, 23, dtype=np.int64)  # item id - 1 = position, so a row's first input names its user
    train = leave_one_out(offsets)["train"]
    batches = list(SequenceBatches(items, train, batch_size=4, seed=3, segment_length=segment_length, warmup=1,
                                   users=example_users(offsets, train)))
    rows = 0
    for batch in batches:
        owners = np.searchsorted(offsets, batch.inputs[:, 0].numpy() - 1, side="right") - 1
        assert batch.users.tolist() == owners.tolist()
        for chunk in batch.chunks(2):
            assert chunk.users.tolist() == owners[:chunk.inputs.shape[0]].tolist()  # the rows still running
        rows += len(batch.users)
    assert rows == (4 if segment_length is None else 1 + 3 + 1 + 2)  # 1, 5, 1 and 4 training targets
