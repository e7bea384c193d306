"""The synthetic session generator (benchmarks/make_session_synthetic.py): repeatable for a seed,
sessions spread over the stated days in start order, and next clicks that follow the category chain."""
import sys
from pathlib import Path

import numpy as np
import pytest

from gru4recf.data.atomic_files import read_atomic

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
DAY = 86400
MIDNIGHT = 1599955200  # 2020-09-13 00:00:00 UTC


@pytest.fixture(scope="module")
def generator():
    sys.path.insert(0, str(BENCHMARKS))
    import make_session_synthetic as module
    return module


TINY = {"sessions": 300, "items": 60, "classes": 4, "min_length": 2, "max_length": 6, "days": 5, "dim": 4,
        "seed": 3}


def read(folder: Path, name: str = "ss"):
    return read_atomic(folder / f"{name}.inter").frame, read_atomic(folder / f"{name}.item").frame


def test_the_same_seed_writes_the_same_files_and_another_seed_others(tmp_path, generator):
    first = generator.generate(tmp_path / "a", "ss", **TINY)
    second = generator.generate(tmp_path / "b", "ss", **TINY)
    other = generator.generate(tmp_path / "c", "ss", **dict(TINY, seed=4))
    for name in ("ss.inter", "ss.item"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert (first / "ss.inter").read_bytes() != (other / "ss.inter").read_bytes()


def test_sessions_are_numbered_in_start_order_and_fill_the_days(tmp_path, generator):
    inter, item = read(generator.generate(tmp_path, "ss", **TINY))
    assert list(inter.columns) == ["session_id", "item_id", "timestamp"]  # no users unless asked
    times = inter["timestamp"].to_numpy()
    assert MIDNIGHT <= times.min() and times.max() < MIDNIGHT + 5 * DAY
    assert np.all(np.diff(times) >= 0)  # rows in global time order
    session = inter["session_id"].astype(int).to_numpy()
    starts = np.full(301, np.inf)
    np.minimum.at(starts, session, times)
    assert np.all(np.diff(starts[1:]) >= 0)  # session k starts no later than session k + 1
    lengths = np.bincount(session, minlength=301)[1:]
    assert lengths.min() >= 2 and lengths.max() <= 6 and len(lengths) == 300
    day_of_start = ((starts[1:] - MIDNIGHT) // DAY).astype(int)
    assert set(day_of_start) == {0, 1, 2, 3, 4}  # a time split's train, valid (day 3) and test (day 4) all have sessions
    assert len(item) == 60 and set(item["category"]) == {"c0", "c1", "c2", "c3"}
    assert all(len(vec) == 4 for vec in item["vec"])


def test_users_are_optional(tmp_path, generator):
    inter, _ = read(generator.generate(tmp_path, "ss", **dict(TINY, users=7)))
    assert list(inter.columns) == ["session_id", "user_id", "item_id", "timestamp"]
    per_session = inter.groupby("session_id")["user_id"].nunique()
    assert per_session.max() == 1 and set(inter["user_id"].astype(int)) <= set(range(1, 8))


def test_next_clicks_follow_the_category_chain(tmp_path, generator):
    settings = dict(TINY, sessions=3000, min_length=10, max_length=10, days=10)
    inter, item = read(generator.generate(tmp_path, "ss", **settings))
    world = generator.make_world(np.random.default_rng(3), 60, 4, 3, 4, 1.0, 0.5)  # the generator's first draw
    category = dict(zip(item["item_id"], item["category"].str[1:].astype(int)))
    ordered = inter.sort_values(["session_id", "timestamp"], kind="stable")  # a session's clicks have distinct times
    classes = ordered["item_id"].map(category).to_numpy()
    same = ordered["session_id"].to_numpy()[1:] == ordered["session_id"].to_numpy()[:-1]
    counts = np.zeros((4, 4))
    np.add.at(counts, (classes[:-1][same], classes[1:][same]), 1)
    measured = counts / counts.sum(axis=1, keepdims=True)
    assert np.abs(measured - world.transitions).max() < 0.03  # 27,000 transitions, ~6,750 per row
    # the item's category tells more about the next category than chance: the best successor takes >= 50%
    assert measured.max(axis=1).min() > 0.5


def test_impossible_settings_are_refused(generator, capsys):
    assert generator.main(["--items=3", "--classes=5", "--out=/nonexistent/never"]) == 2
    assert "items >= classes" in capsys.readouterr().err
    with pytest.raises(ValueError, match="days >= 3"):
        generator.generate(Path("/nonexistent/never"), days=2)
