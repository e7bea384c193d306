"""The session protocol: sessions as sequences, the global time split, next-click examples.

The fixture `sessions` (tests/fixtures/sessions) has six sessions over four days, written out of
order. With T = the latest timestamp and one-day windows, test = sessions ending at or after
T - 1 day, valid = those ending in the day before, the rest training:
  s1 a b c (day 0, train)        s2 b c d (day 1, train)       s3 d y a b (day 1, valid)
  s4 c x a (day 3, test)         s5 x b (day 3, test)          s6 a c (day 3, the last, test)
Items x and y never occur in training: they are dropped from s3, s4 and s5; s5 is then left with
one event and is dropped; the catalogue becomes the training items a, b, c, d.
"""
import logging
from pathlib import Path

import numpy as np
import pytest

from gru4recf import run_gru4recf
from gru4recf.data.dataset import load_dataset
from gru4recf.data.settings import DataSettings
from gru4recf.data.split import Examples, last_positions
from gru4recf.data.time_split import DAY, time_split, window_starts
from gru4recf.errors import ConfigError
from gru4recf.experiment import load_config, split_data

from helpers import small_config, write_session_dataset

FIXTURES = Path(__file__).resolve().parent / "fixtures"
B = 1_600_000_000
ONE_DAY = {"valid_days": 1, "test_days": 1}


def sessions(**settings):
    return load_dataset(DataSettings("sessions", str(FIXTURES), session_field="session_id",
                                     selected_features=["cat"], **settings))


def sequences(data) -> dict:
    offsets = data.user_offsets
    return {data.user_tokens[s]: data.item_tokens[data.items[offsets[s]:offsets[s + 1]]].tolist()
            for s in range(1, data.n_users) if offsets[s + 1] > offsets[s]}


def example_items(data, examples: Examples) -> list:
    """(history item tokens, target token) of every example, in order."""
    return [(data.item_tokens[data.items[start:target]].tolist(), data.item_tokens[data.items[target]])
            for target, start in zip(examples.targets, examples.starts)]


def test_sessions_are_sequences_ordered_by_start_time_with_items_by_time():
    data = sessions()
    assert data.sessions
    assert data.user_tokens.tolist() == ["[PAD]", "s1", "s2", "s3", "s4", "s5", "s6"]
    assert sequences(data) == {"s1": ["a", "b", "c"], "s2": ["b", "c", "d"], "s3": ["d", "y", "a", "b"],
                               "s4": ["c", "x", "a"], "s5": ["x", "b"], "s6": ["a", "c"]}
    assert data.times[:3].tolist() == [B, B + 100, B + 200]
    assert data.statistics().startswith("sessions: 6 sessions, 6 items, 17 interactions; 2.83 per session")


def test_a_session_table_needs_no_user_column(tmp_path):
    folder = tmp_path / "anon"
    folder.mkdir()
    (folder / "anon.inter").write_text("session_id:token\titem_id:token\ttimestamp:float\n"
                                       "k2\ti1\t20\nk1\ti2\t10\nk1\ti1\t11\n", encoding="utf-8")
    data = load_dataset(DataSettings("anon", str(tmp_path), session_field="session_id"))
    assert data.user_tokens.tolist() == ["[PAD]", "k1", "k2"]
    assert sequences(data) == {"k1": ["i2", "i1"], "k2": ["i1"]}


def test_time_split_by_days_drops_unseen_items_then_short_sessions(caplog):
    data = sessions()
    with caplog.at_level(logging.INFO, logger="gru4recf"):
        split, examples = time_split(data, ONE_DAY)
    assert split.item_tokens.tolist() == ["[PAD]", "c", "a", "b", "d"]  # the training items, in id order
    assert split.item_features[0].vocab[split.item_features[0].values].tolist() == ["[PAD]", "c1", "c1", "c2", "c3"]
    assert sequences(split) == {"s1": ["a", "b", "c"], "s2": ["b", "c", "d"], "s3": ["d", "a", "b"],
                                "s4": ["c", "a"], "s6": ["a", "c"]}
    assert example_items(split, examples["train"]) == [(["a"], "b"), (["a", "b"], "c"), (["b"], "c"),
                                                       (["b", "c"], "d")]
    assert example_items(split, examples["valid"]) == [(["d"], "a"), (["d", "a"], "b")]
    assert example_items(split, examples["test"]) == [(["c"], "a"), (["a"], "c")]
    assert split.times.tolist()[-2:] == [B + 3 * DAY + 90, B + 3 * DAY + 100]
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("time split"))
    for part in ("train 2 sessions / 6 events", "valid 1 sessions / 3 events", "test 2 sessions / 4 events",
                 "3 events of items not in training", "1 sessions left with fewer than 2 events"):
        assert part in line, line


def test_window_starts_of_each_form():
    times = np.array([B, B + 4 * DAY], dtype=np.float64)
    assert window_starts(times, ONE_DAY) == (B + 2 * DAY, B + 3 * DAY)
    assert window_starts(times, {"valid_after": B + 10, "test_after": B + 20}) == (B + 10, B + 20)
    assert window_starts(times, {"valid_fraction": 0.25, "test_fraction": 0.25}) == (B + 2 * DAY, B + 3 * DAY)


def test_a_session_ending_in_the_test_window_is_test_even_if_it_began_before():
    data = sessions()
    # test from the start of s4's day: s4, s5, s6 end after it; valid = the 2 days before: s3 (not s2, which ends
    # earlier)
    split, examples = time_split(data, {"valid_after": B + DAY + 100, "test_after": B + 3 * DAY})
    assert [h for h, _ in example_items(split, examples["valid"])] == [["d"], ["d", "a"]]
    assert len(examples["test"]) == 2


def test_last_positions_keeps_the_last_target_of_each_sequence():
    examples = Examples(np.array([1, 2, 3, 6, 8, 9]), np.array([0, 0, 0, 5, 7, 7]))
    last = last_positions(examples)
    assert last.targets.tolist() == [3, 6, 9] and last.starts.tolist() == [0, 5, 7]


def test_eval_positions_last_keeps_one_test_example_per_session():
    split, examples = split_data(sessions(), {"TS": ONE_DAY}, positions="last")
    assert example_items(split, examples["valid"]) == [(["d", "a"], "b")]
    assert len(examples["train"]) == 4  # training keeps every position


def test_leave_one_out_says_it_is_not_time_safe(caplog):
    with caplog.at_level(logging.INFO, logger="gru4recf"):
        split_data(sessions(), {"LS": "valid_and_test"})
    assert any("not time-safe" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("split, words", [
    ({"TS": {"valid_days": 1}}, ["eval_args.split.TS", "'valid_days', 'test_days'"]),
    ({"TS": {"valid_days": 1, "test_after": 5}}, ["eval_args.split.TS", "one pair"]),
    ({"TS": {"valid_days": 0, "test_days": 1}}, ["eval_args.split.TS.valid_days", "0"]),
    ({"TS": {"valid_after": 20, "test_after": 10}}, ["valid_after 20", "later than test_after"]),
    ({"TS": {"valid_fraction": 0.5, "test_fraction": 0.5}}, ["valid_fraction + test_fraction is 1.0", "below 1"]),
    ({"XS": 1}, ["eval_args.split", "'TS'"]),
])
def test_bad_time_splits_are_config_errors_naming_the_key(split, words):
    with pytest.raises(ConfigError) as caught:
        load_config("GRU4Rec", "ml-100k", config_dict={"eval_args": {"split": split}})
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_gru4rec_trains_on_sessions_and_is_evaluated_next_click(tmp_path):
    write_session_dataset(tmp_path)
    config = small_config(tmp_path, SESSION_ID_FIELD="session_id", eval_args={"split": {"TS": {"valid_days": 2,
                          "test_days": 2}}}, topk=[20], valid_metric="MRR@20", epochs=3, learning_rate=0.02,
                          train_mode="sequence", segment_length=None)
    result = run_gru4recf("GRU4Rec", "toy_sessions", config)
    # the walk i -> i+1 is learnt: a random ranking of the 30 items gives MRR@20 about 0.12
    assert result["test_result"]["mrr@20"] > 0.5, result
    assert set(result["test_result"]) == {f"{m}@20" for m in ("recall", "mrr", "ndcg", "hit", "precision")}


def test_search_trials_share_loaded_data_only_when_their_examples_are_the_same():
    from gru4recf.experiment import data_key

    base = {"SESSION_ID_FIELD": "session_id", "eval_args": {"split": {"TS": ONE_DAY}}}
    key = lambda **more: data_key(load_config("GRU4Rec", "sessions", config_dict=dict(base, **more)))
    assert key() == key(learning_rate=0.01)
    assert key() != key(eval_positions="last") and key() != key(eval_args={"split": {"LS": "valid_and_test"}})
