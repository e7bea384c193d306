"""Train/valid/test splits of next-item examples, checked against RecBole 1.2.1's own rules.

A user with n time-ordered interactions has n-1 examples, at positions 1..n-1 of the user's
sequence (the first interaction has no history). The references below are plain loops over
users, written as RecBole writes `_split_index_by_leave_one_out` and `_calcu_split_ids`.
"""

import numpy as np
import pytest

from gru4recf.data.split import Examples, leave_one_out, ratio_split, split_examples


def offsets_of(counts) -> np.ndarray:
    """Interaction-array offsets of users with the given numbers of interactions."""
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def pairs(examples: Examples) -> list:
    """(target position, user start) of every example, in order."""
    assert len(examples.targets) == len(examples.starts) == len(examples)
    return list(zip(examples.targets.tolist(), examples.starts.tolist()))


def user_examples(offsets: np.ndarray) -> list:
    """Per user: the (target, start) pairs of its augmented examples, in time order."""
    return [[(t, int(s)) for t in range(int(s) + 1, int(e))] for s, e in zip(offsets[:-1], offsets[1:])]


def reference_leave_one_out(offsets: np.ndarray) -> dict:
    """RecBole's `_split_index_by_leave_one_out(grouped_index, leave_one_num=2)`."""
    parts = [[], [], []]
    for index in user_examples(offsets):
        if not index:  # RecBole groups by the users that occur in the augmented data
            continue
        legal = min(2, len(index) - 1)
        pr = len(index) - legal
        parts[0].extend(index[:pr])
        for i in range(legal):
            parts[-legal + i].append(index[pr])
            pr += 1
    return dict(zip(("train", "valid", "test"), parts))


def reference_split_counts(tot: int, ratios: list) -> list:
    """RecBole's `_calcu_split_ids`, returning the counts instead of their cumulative sums."""
    cnt = [int(ratios[i] * tot) for i in range(len(ratios))]
    cnt[0] = tot - sum(cnt[1:])
    for i in range(1, len(ratios)):
        if cnt[0] <= 1:
            break
        if 0 < ratios[-i] * tot < 1:
            cnt[-i] += 1
            cnt[0] -= 1
    return cnt


def reference_ratio_split(offsets: np.ndarray, ratios: list) -> dict:
    """RecBole's `split_by_ratio(ratios, group_by=user)` over the augmented examples."""
    total = sum(ratios)
    ratios = [r / total for r in ratios]
    parts = [[], [], []]
    for index in user_examples(offsets):
        if not index:
            continue
        cnt = reference_split_counts(len(index), ratios)
        ends = np.cumsum(cnt)
        for part, start, end in zip(parts, [0, *ends[:-1]], ends):
            part.extend(index[start:end])
    return dict(zip(("train", "valid", "test"), parts))


def assert_same(split: dict, expected: dict) -> None:
    for part in ("train", "valid", "test"):
        assert pairs(split[part]) == expected[part], part


# ---- leave one out ----------------------------------------------------------------------------

def test_leave_one_out_by_user_size():
    # users with 0, 1, 2, 3 and 5 interactions; positions are global in the interaction array
    split = leave_one_out(offsets_of([0, 1, 2, 3, 5]))
    # 0 and 1 interactions: no example; 2: one example, kept for training (legal = 0);
    # 3: two examples, the last is test (legal = 1, no valid); 5: four examples, 2 train, valid, test
    assert pairs(split["train"]) == [(2, 1), (4, 3), (7, 6), (8, 6)]
    assert pairs(split["valid"]) == [(9, 6)]
    assert pairs(split["test"]) == [(5, 3), (10, 6)]


def test_leave_one_out_holds_out_the_last_two_targets_in_time_order():
    split = leave_one_out(offsets_of([4]))  # 4 interactions: examples at positions 1, 2, 3
    assert pairs(split["train"]) == [(1, 0)]
    assert pairs(split["valid"]) == [(2, 0)]
    assert pairs(split["test"]) == [(3, 0)]


@pytest.mark.parametrize("seed", range(5))
def test_leave_one_out_matches_recbole_on_random_users(seed):
    rng = np.random.default_rng(seed)
    offsets = offsets_of(rng.integers(0, 9, size=60))
    assert_same(leave_one_out(offsets), reference_leave_one_out(offsets))


def test_leave_one_out_of_no_users_is_empty():
    split = leave_one_out(offsets_of([]))
    assert [len(split[p]) for p in ("train", "valid", "test")] == [0, 0, 0]


# ---- ratio split ------------------------------------------------------------------------------

@pytest.mark.parametrize("examples, ratios, expected", [
    (10, [0.8, 0.1, 0.1], [8, 1, 1]),
    (9, [0.8, 0.1, 0.1], [7, 1, 1]),   # 0.9 < 1 rounds up for test and for valid
    (3, [0.8, 0.1, 0.1], [1, 1, 1]),
    (2, [0.8, 0.1, 0.1], [1, 0, 1]),   # test first takes one; training must keep more than one
    (1, [0.8, 0.1, 0.1], [1, 0, 0]),
    (20, [8, 1, 1], [16, 2, 2]),       # ratios need not sum to 1
    (5, [0.5, 0.5, 0.0], [3, 2, 0]),   # a zero ratio never takes an example
])
def test_ratio_split_counts_per_user(examples, ratios, expected):
    split = ratio_split(offsets_of([examples + 1]), ratios)
    assert [len(split[p]) for p in ("train", "valid", "test")] == expected
    # in time order: train, then valid, then test
    targets = np.concatenate([split[p].targets for p in ("train", "valid", "test")])
    assert targets.tolist() == list(range(1, examples + 1))


@pytest.mark.parametrize("ratios", [
    [0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.6, 0.2, 0.2], [1, 1, 1], [0.5, 0.5, 0.0],
    [1.0, 0.0, 0.0], [0.05, 0.9, 0.05], [3, 0.1, 7],
])
def test_ratio_split_matches_recbole_on_random_users(ratios):
    rng = np.random.default_rng(len(str(ratios)))
    offsets = offsets_of(rng.integers(0, 40, size=80))
    assert_same(ratio_split(offsets, ratios), reference_ratio_split(offsets, ratios))


@pytest.mark.parametrize("seed", range(5))
def test_ratio_split_matches_recbole_on_random_ratios(seed):
    rng = np.random.default_rng(100 + seed)
    offsets = offsets_of(rng.integers(0, 30, size=80))
    ratios = rng.random(3).round(2).tolist()
    ratios[0] += 0.01
    assert_same(ratio_split(offsets, ratios), reference_ratio_split(offsets, ratios))


# ---- both -------------------------------------------------------------------------------------

@pytest.mark.parametrize("split_arg", [{"LS": "valid_and_test"}, {"RS": [0.8, 0.1, 0.1]}])
def test_every_example_lands_in_exactly_one_split(split_arg):
    offsets = offsets_of(np.random.default_rng(7).integers(0, 12, size=50))
    split = split_examples(offsets, split_arg)
    found = sorted(pair for part in ("train", "valid", "test") for pair in pairs(split[part]))
    assert found == sorted(pair for user in user_examples(offsets) for pair in user)


def test_split_examples_dispatches_on_the_split_key():
    offsets = offsets_of([3, 12, 6])
    assert_same(split_examples(offsets, {"LS": "valid_and_test"}), reference_leave_one_out(offsets))
    assert_same(split_examples(offsets, {"RS": [0.6, 0.2, 0.2]}), reference_ratio_split(offsets, [0.6, 0.2, 0.2]))
