"""Loading a dataset: atomic files -> filtered, remapped, time-ordered user sequences + features.

Fixtures are one folder per case under tests/fixtures/ (RecBole's layout):
- remap: users and items in a chosen file order, a timestamp tie, an .item file with an item
  that has no interactions (i9), an item with no row (i2) and empty cells;
- users: a .user file with a user that has no interactions (u4);
- cascade: counts that need several filtering rounds; dups: repeated (user, item) pairs;
- token_time: a timestamp column typed token;
- close_times: two timestamps one second apart, in reverse file order, at ml-100k's magnitude.
"""

from pathlib import Path

import numpy as np
import pytest

from gru4recf.data.dataset import load_dataset
from gru4recf.data.settings import DataSettings
from gru4recf.errors import DataFormatError, DatasetError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
INTER_ONLY = {"inter": ["user_id", "item_id", "rating", "timestamp"]}


def load(case: str, **settings):
    return load_dataset(DataSettings(case, str(FIXTURES), **settings))


def error_of(case: str, **settings) -> str:
    with pytest.raises(DatasetError) as caught:
        load(case, **settings)
    return str(caught.value)


def assert_names(message: str, *words: str) -> None:
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


def sequences(data) -> dict:
    """{user token: [item tokens in sequence order]} for every real user (padding id excluded)."""
    offsets = data.user_offsets
    return {data.user_tokens[u]: data.item_tokens[data.items[offsets[u]:offsets[u + 1]]].tolist()
            for u in range(1, data.n_users)}


def feature(data, name: str):
    return next(f for f in data.item_features if f.name == name)


# ---- remapping and order ----------------------------------------------------------------------

def test_ids_follow_first_appearance_with_padding_at_zero():
    data = load("remap")
    assert data.user_tokens.tolist() == ["[PAD]", "u2", "u1"]
    # interactions first (i3, i1, i2), then the item only the .item file names (i9)
    assert data.item_tokens.tolist() == ["[PAD]", "i3", "i1", "i2", "i9"]
    assert (data.n_users, data.n_items, data.n_interactions) == (3, 5, 5)


def test_sequences_are_ordered_by_time_with_ties_in_file_order():
    data = load("remap")
    # u1: i3 at 5, then i1 and i2 both at 10 (file order)
    assert sequences(data) == {"u2": ["i1", "i3"], "u1": ["i3", "i1", "i2"]}
    assert data.user_offsets.tolist() == [0, 0, 2, 5]
    assert data.items.tolist() == [2, 1, 1, 2, 3]


def test_timestamps_one_second_apart_are_ordered_exactly():
    # RecBole normalises timestamps to [0, 1] and keeps them as float32, where i2 and i1 (one
    # second apart near the end of ml-100k's span) become equal and would keep their file order.
    assert sequences(load("close_times")) == {"u1": ["i0", "i1", "i2", "i3"]}


def test_users_only_in_the_user_file_get_ids_after_the_interacting_users():
    data = load("users")
    assert data.user_tokens.tolist() == ["[PAD]", "u1", "u2", "u3", "u4"]
    assert sequences(data)["u4"] == []
    assert data.user_offsets.tolist() == [0, 0, 3, 5, 6, 6]


def test_excluding_the_item_file_with_load_col_keeps_only_interacting_items():
    data = load("remap", load_col=INTER_ONLY)
    assert data.item_tokens.tolist() == ["[PAD]", "i3", "i1", "i2"]


def test_item_count_filter_drops_items_without_interactions_as_recbole_does():
    data = load("remap", item_inter_num_interval="[2,inf)")
    # i2 (one interaction) and i9 (none) are dropped, also from the catalogue
    assert data.item_tokens.tolist() == ["[PAD]", "i3", "i1"]
    assert sequences(data) == {"u2": ["i1", "i3"], "u1": ["i3", "i1"]}


def test_user_count_filter_drops_users_also_from_the_user_file():
    data = load("users", user_inter_num_interval="[2,inf)")
    # RecBole bans u3 (1 interaction) and u4 (0 < 2) from user_feat as well
    assert data.user_tokens.tolist() == ["[PAD]", "u1", "u2"]


def test_with_rm_dup_inter_ids_follow_time_order_as_in_recbole():
    data = load("remap", rm_dup_inter="first")
    assert data.user_tokens.tolist() == ["[PAD]", "u1", "u2"]
    assert data.item_tokens.tolist() == ["[PAD]", "i3", "i1", "i2", "i9"]


# ---- filtering through load_dataset -----------------------------------------------------------

def test_count_filters_repeat_until_stable():
    data = load("cascade", user_inter_num_interval="[2,inf)", item_inter_num_interval="[2,inf)")
    # uC goes, then i3 falls to one interaction, then uD does
    assert sequences(data) == {"uA": ["i1", "i2"], "uB": ["i1", "i2"]}
    assert data.item_tokens.tolist() == ["[PAD]", "i1", "i2"]


@pytest.mark.parametrize("keep, expected", [("first", ["i2", "i1", "i3"]), ("last", ["i2", "i3", "i1"])])
def test_rm_dup_inter_keeps_first_or_last_in_time(keep, expected):
    assert sequences(load("dups", rm_dup_inter=keep)) == {"u1": expected}


def test_duplicates_are_removed_before_value_filtering():
    # 'last' keeps i1 at time 30 (rating 1), which val_interval then drops: i1 is gone altogether
    data = load("dups", rm_dup_inter="last", val_interval={"rating": "[2,inf)"})
    assert sequences(data) == {"u1": ["i2", "i3"]}


def test_empty_after_filtering_is_an_error_naming_the_filters():
    assert_names(error_of("remap", user_inter_num_interval="[10,inf)"),
                 "remap.inter", "no interactions left after filtering", "user_inter_num_interval")


# ---- item features ----------------------------------------------------------------------------

def test_token_feature_ids_and_empty_or_missing_items():
    data = load("remap", selected_features=["genre"])
    genre = feature(data, "genre")
    assert genre.kind == "token"
    assert genre.vocab.tolist() == ["[PAD]", "rock", "pop"]
    assert genre.num_tokens == 3
    # by item id: [PAD], i3 (empty cell), i1 (pop), i2 (no row in .item), i9 (rock)
    assert genre.values.tolist() == [0, 0, 2, 0, 1]


def test_token_seq_feature_is_a_ragged_table_in_item_order():
    tags = feature(load("remap", selected_features=["tags"]), "tags")
    assert tags.vocab.tolist() == ["[PAD]", "a", "b", "c"]
    # [PAD], i3 ('c a'), i1 (empty cell: no tokens), i2 (no row: no tokens), i9 ('a b')
    assert tags.values.tolist() == [3, 1, 1, 2] and tags.offsets.tolist() == [0, 0, 2, 2, 2, 4]


def test_float_feature_is_zero_for_items_without_a_row():
    price = feature(load("remap", selected_features=["price"]), "price")
    assert price.values.dtype == np.float32
    assert price.values.tolist() == [0.0, 3.0, 1.5, 0.0, 9.5]
    assert price.num_tokens == 0


def test_features_come_in_the_selected_order():
    data = load("remap", selected_features=["price", "genre"])
    assert [f.name for f in data.item_features] == ["price", "genre"]


def test_selecting_a_column_that_is_not_loaded_lists_the_loaded_ones():
    assert_names(error_of("remap", selected_features=["year"]),
                 "'year'", "remap.item", "genre, tags, price, vec", "selected_features")


def test_load_col_restricts_the_loaded_item_columns():
    load_col = {**INTER_ONLY, "item": ["item_id", "genre"]}
    assert feature(load("remap", load_col=load_col, selected_features=["genre"]), "genre").num_tokens == 3
    message = error_of("remap", load_col=load_col, selected_features=["tags"])
    assert_names(message, "'tags'", "loaded item features: genre (", "load_col")


def test_load_col_restricts_the_loaded_interaction_columns():
    load_col = {"inter": ["user_id", "item_id", "timestamp"]}
    assert load("remap", load_col=load_col).n_interactions == 5
    assert_names(error_of("remap", load_col=load_col, val_interval={"rating": "[2,inf)"}),
                 "'rating'", "remap.inter", "user_id, item_id, timestamp")


def test_selected_features_without_the_item_file_is_an_error():
    assert_names(error_of("remap", load_col=INTER_ONLY, selected_features=["genre"]),
                 "['genre']", str(FIXTURES / "remap" / "remap.item"), "load_col")


def test_float_seq_vectors_of_different_lengths_name_file_line_field_and_lengths():
    # remap.item: i9 '1 2' on line 2 sets d=2, i1 '3' on line 3 has length 1, i3 (empty) has no vector
    with pytest.raises(DataFormatError) as caught:
        load("remap", selected_features=["vec"])
    assert_names(str(caught.value), str(FIXTURES / "remap" / "remap.item"), "line 3", "'vec'",
                 "length 1", "expected length 2", "line 2")


# ---- user-facing errors -----------------------------------------------------------------------

def test_missing_inter_file_names_the_path():
    assert_names(error_of("absent"), str(FIXTURES / "absent" / "absent.inter"), "missing")


def test_load_col_without_a_required_interaction_column_is_named():
    assert_names(error_of("remap", load_col={"inter": ["user_id", "item_id"]}),
                 "remap.inter", "must provide column(s) timestamp", "load_col")


def test_item_file_without_the_item_column_is_named():
    assert_names(error_of("remap", load_col={**INTER_ONLY, "item": ["genre"]}),
                 "remap.item", "must provide column(s) item_id")


def test_time_field_must_be_float():
    assert_names(error_of("token_time"), "TIME_FIELD 'timestamp'", "token_time.inter",
                 "type token", "expected float")


# ---- statistics -------------------------------------------------------------------------------

def test_statistics_count_without_padding_and_average_over_ids_with_interactions():
    # remap: users u1, u2 (+ [PAD]); items a, b, c (+ [PAD]); 5 interactions: 5/2 per user, 5/3 per
    # item; sparsity 1 - 5 / (2 * 3)
    assert load("remap", load_col=INTER_ONLY).statistics() == \
        "remap: 2 users, 3 items, 5 interactions; 2.50 per user, 1.67 per item; sparsity 16.67%"


def test_statistics_averages_ignore_ids_without_interactions():
    line = load("users").statistics()  # u4 has no interactions: counted as a user, not in the average
    assert "; 2.00 per user," in line


# ---- ml-100k ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ml100k():
    if not (DATASETS / "ml-100k" / "ml-100k.inter").is_file():
        pytest.skip(f"ml-100k not found under {DATASETS}")
    return load_dataset(DataSettings("ml-100k", str(DATASETS), selected_features=["class"]))


def test_ml100k_loads_with_recbole_counts(ml100k):
    assert (ml100k.n_users, ml100k.n_items, ml100k.n_interactions) == (944, 1683, 100000)
    assert ml100k.user_offsets[-1] == 100000 and (np.diff(ml100k.user_offsets)[1:] >= 20).all()
    assert ml100k.items.min() >= 1 and ml100k.items.max() == 1682


def test_ml100k_genres_have_19_tokens_plus_padding(ml100k):
    genres = feature(ml100k, "class")
    assert genres.kind == "token_seq" and genres.num_tokens == 20
    assert genres.n_items == 1683 and len(genres.tokens_of(0)) == 0
    toy_story = int(np.flatnonzero(ml100k.item_tokens == "1")[0])
    assert sorted(genres.vocab[genres.tokens_of(toy_story)]) == ["Animation", "Children's", "Comedy"]


def test_ml100k_statistics_read_as_people_write_them(ml100k):
    # 100000 / 943 = 106.04, 100000 / 1682 = 59.45, 1 - 100000 / (943 * 1682) = 93.70%
    assert ml100k.statistics() == ("ml-100k: 943 users, 1,682 items, 100,000 interactions; 106.04 per user, "
                                   "59.45 per item; sparsity 93.70%")


# ---- ids that cannot be trusted -------------------------------------------------------------------

@pytest.mark.parametrize("case, message", [
    ("empty_id", "empty_id.inter, line 3: field 'item_id' is empty"),
    ("pad_id", "pad_id.inter, line 3: field 'user_id' is '[PAD]', the token reserved for padding (id 0); rename it"),
    ("dup_item", "dup_item.item, lines 3 and 5: item_id 'i2' appears twice; give each id one row"),
])
def test_an_id_that_is_empty_reserved_or_repeated_in_a_feature_file_is_named_by_file_line_and_field(case, message):
    with pytest.raises(DataFormatError) as caught:
        load(case, selected_features=["class"] if case == "dup_item" else [])
    assert str(caught.value).endswith(message)
