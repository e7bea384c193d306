"""Interaction filters as RecBole applies them: duplicates, value intervals, interaction counts."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from gru4recf.data.filtering import filter_by_counts, filter_by_values, in_intervals, remove_duplicates
from gru4recf.errors import DatasetError


def frame(rows: str) -> pd.DataFrame:
    """Interactions from 'user item rating timestamp' lines; the index is the 0-based row."""
    records = [line.split() for line in rows.strip().splitlines()]
    return pd.DataFrame({
        "user_id": [r[0] for r in records], "item_id": [r[1] for r in records],
        "rating": [float(r[2]) for r in records], "timestamp": [float(r[3]) for r in records]})


def kept(result: pd.DataFrame) -> list:
    return sorted(result.index.tolist())


# ---- intervals --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, inside", [
    ("[3,inf)", [3, 4, 5, 100]),
    ("(3,inf)", [4, 5, 100]),
    ("[0,2]", [0, 1, 2]),
    ("(0,2)", [1]),
    ("(0,2];[4,5]", [1, 2, 4, 5]),
    ("(-inf,1];(4,inf)", [0, 1, 5, 100]),
])
def test_in_intervals_respects_open_and_closed_ends(text, inside):
    values = np.array([0, 1, 2, 3, 4, 5, 100], dtype=np.float64)
    assert values[in_intervals(values, text)].tolist() == inside


# ---- duplicates -------------------------------------------------------------------------------

DUPLICATES = """
u1 a 1 30
u1 a 2 10
u2 a 3 10
u1 b 4 50
u1 a 5 20
u1 b 6 50
"""


def test_rm_dup_first_keeps_the_earliest_interaction_of_each_pair():
    result = remove_duplicates(frame(DUPLICATES), "user_id", "item_id", "timestamp", "first")
    # (u1, a): times 30, 10, 20 -> row 1; (u1, b): a tie at 50, the first in the file -> row 3
    assert kept(result) == [1, 2, 3]


def test_rm_dup_last_keeps_the_latest_interaction_of_each_pair():
    result = remove_duplicates(frame(DUPLICATES), "user_id", "item_id", "timestamp", "last")
    # (u1, a) -> row 0 (time 30); (u1, b): a tie at 50, the last in the file -> row 5
    assert kept(result) == [0, 2, 5]


def test_rm_dup_without_time_uses_file_order():
    data = frame(DUPLICATES)
    assert kept(remove_duplicates(data, "user_id", "item_id", None, "first")) == [0, 2, 3]
    assert kept(remove_duplicates(data, "user_id", "item_id", None, "last")) == [2, 4, 5]


def test_rm_dup_keeps_the_columns_of_the_kept_rows():
    result = remove_duplicates(frame(DUPLICATES), "user_id", "item_id", "timestamp", "first")
    assert result.loc[1].tolist() == ["u1", "a", 2.0, 10.0]


# ---- values -----------------------------------------------------------------------------------

RATINGS = """
u1 a 0 1
u1 b 1 2
u1 c 2 3
u1 d 3 4
u2 a 4 5
u2 b 5 6
u2 c 6 7
"""


@pytest.mark.parametrize("intervals, rows", [
    ({"rating": "[3,inf)"}, [3, 4, 5, 6]),
    ({"rating": "(0,2];[4,5]"}, [1, 2, 4, 5]),
    ({"rating": "(0,2];[4,5]", "timestamp": "[2,5)"}, [1, 2]),
])
def test_val_interval_keeps_rows_inside_every_field_interval(intervals, rows):
    assert kept(filter_by_values(frame(RATINGS), intervals, "case.inter")) == rows


def test_val_interval_on_a_missing_field_names_it_and_the_loaded_columns():
    with pytest.raises(DatasetError) as caught:
        filter_by_values(frame(RATINGS), {"score": "[3,inf)"}, "case.inter")
    message = str(caught.value)
    for word in ("'score'", "case.inter", "user_id, item_id, rating, timestamp"):
        assert word in message, message


def test_val_interval_on_a_token_field_is_rejected():
    with pytest.raises(DatasetError, match="'user_id' of case.inter is not a float field"):
        filter_by_values(frame(RATINGS), {"user_id": "[3,inf)"}, "case.inter")


# ---- counts -----------------------------------------------------------------------------------

CASCADE = """
uA i1 0 1
uA i2 0 2
uB i1 0 3
uB i2 0 4
uC i3 0 5
uD i3 0 6
uD i1 0 7
"""


def test_count_filter_repeats_until_stable():
    # round 1 drops uC (1 interaction); then i3 has 1 interaction (round 2), then uD has 1 (round 3)
    result = filter_by_counts(frame(CASCADE), "user_id", "item_id", "[2,inf)", "[2,inf)")
    assert kept(result) == [0, 1, 2, 3]


def test_count_filter_with_only_a_user_interval_takes_one_round():
    result = filter_by_counts(frame(CASCADE), "user_id", "item_id", "[2,inf)", None)
    assert kept(result) == [0, 1, 2, 3, 5, 6]


def test_count_filter_with_only_an_item_interval():
    result = filter_by_counts(frame(CASCADE), "user_id", "item_id", None, "[3,inf)")
    assert kept(result) == [0, 2, 6]  # i1 has 3 interactions, i2 and i3 have 2


def test_count_filter_accepts_several_intervals():
    # users with exactly 1 or at least 3 interactions: none of the users of CASCADE but uC
    result = filter_by_counts(frame(CASCADE), "user_id", "item_id", "[1,1];[3,inf)", None)
    assert kept(result) == [4]


def test_count_filter_without_intervals_keeps_everything():
    data = frame(CASCADE)
    assert kept(filter_by_counts(data, "user_id", "item_id", None, None)) == list(range(len(data)))


def test_count_filter_can_empty_the_frame():
    assert filter_by_counts(frame(CASCADE), "user_id", "item_id", "[5,inf)", None).empty


def reference_count_filter(data: pd.DataFrame, user_interval: str, item_interval: str) -> list:
    """RecBole's `_filter_by_inter_num` loop over Counters (users and items banned together)."""
    def legal(count, text):
        return text is None or bool(in_intervals(np.array([count], dtype=np.float64), text)[0])

    rows = list(zip(data.index, data["user_id"], data["item_id"]))
    while True:
        users, items = Counter(r[1] for r in rows), Counter(r[2] for r in rows)
        ban_users = {u for u, n in users.items() if not legal(n, user_interval)}
        ban_items = {i for i, n in items.items() if not legal(n, item_interval)}
        if not ban_users and not ban_items:
            return sorted(r[0] for r in rows)
        rows = [r for r in rows if r[1] not in ban_users and r[2] not in ban_items]


@pytest.mark.parametrize("seed", range(6))
def test_count_filter_matches_recbole_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n = 300
    data = pd.DataFrame({"user_id": [f"u{k}" for k in rng.integers(0, 40, n)],
                         "item_id": [f"i{k}" for k in rng.zipf(1.6, n) % 60]})
    user_interval, item_interval = [("[5,inf)", "[3,inf)"), ("[3,12]", "[2,inf)"),
                                    ("[4,inf)", None), (None, "(2,30]")][seed % 4]
    result = filter_by_counts(data, "user_id", "item_id", user_interval, item_interval)
    assert kept(result) == reference_count_filter(data, user_interval, item_interval)
