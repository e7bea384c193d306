"""A synthetic session dataset whose next click is driven by the current item's category.

    python benchmarks/make_session_synthetic.py                             # /tmp/sessynth/sessynth/
    python benchmarks/make_session_synthetic.py --sessions=2000 --items=500 --days=10 --users=300 \
        --out=/tmp/ss --name=ss-small

The generating process (vectorised numpy, about a second at the default size), the one of
make_feature_synthetic.py with sessions instead of users:
- `--classes` latent categories (default 20); `--items` items (default 5,000) spread evenly over
  them; within a category, popularity is Zipf over a random ranking (exponent `--zipf`, default 1);
- a category-level Markov chain: each category has `--successors` likely successor categories
  (default 3, taking 50/25/15% of the mass), the remaining 10% spread over all categories; a
  session starts in a random category, and at every click moves along the chain, then picks an
  item of the new category by popularity. The next item therefore depends on the current item's
  category only, which a feature model sees at once and an id-only model must learn item by item;
- `--sessions` sessions (default 20,000) of a uniform `--min_length`..`--max_length` clicks
  (default 2-10); their start times (unix seconds) are spread uniformly over `--days` days (default
  30) from 2020-09-13 00:00 UTC, numbered 1, 2, ... in start order, so a time split (the last day
  for test, the day before for validation) has sessions in all three parts; clicks follow each
  other by 1-600 s (lognormal around a minute), and every click falls inside the span;
- with `--users=N` (default 0: none) each session belongs to one of N users, drawn uniformly.
- each item has `category:token` (`c<k>`) and `vec:float_seq` (dimension `--dim`, default 8: the
  category centroid, a standard normal vector, plus N(0, `--noise`^2) noise, 4 decimals).

Writes `<out>/<name>/<name>.inter` (session_id:token [user_id:token] item_id:token
timestamp:float, rows in global time order) and `<name>.item` (item_id:token category:token
vec:float_seq). `--seed` makes it byte-for-byte repeatable.
"""
import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from make_feature_synthetic import SUCCESSOR_MASS, make_world, pick_items, walk_classes
from make_synthetic import format_rows

START = 1_600_000_000  # 2020-09-13 12:26:40 UTC; the span starts at its midnight
DAY = 86400
MAX_GAP = 600


def span_start() -> int:
    """Unix seconds of the first day's midnight (UTC)."""
    return START - START % DAY


def click_times(rng: np.random.Generator, lengths: np.ndarray, days: int) -> np.ndarray:
    """[clicks] unix seconds, session by session: sorted uniform starts over the span (the last
    click of any session still inside it), then gaps of 1-600 s (lognormal around 60 s)."""
    span = days * DAY - MAX_GAP * (int(lengths.max()) - 1)
    starts = np.sort(rng.integers(0, span, size=len(lengths))) + span_start()
    gaps = np.clip(rng.lognormal(np.log(60.0), 1.0, size=int(lengths.sum())), 1, MAX_GAP).astype(np.int64)
    first = np.cumsum(lengths) - lengths
    gaps[first] = starts
    running = np.cumsum(gaps)
    return running - np.repeat(running[first] - starts, lengths)


def generate(out: Path, name: str = "sessynth", sessions: int = 20000, items: int = 5000, classes: int = 20,
             min_length: int = 2, max_length: int = 10, days: int = 30, users: int = 0, successors: int = 3,
             dim: int = 8, zipf: float = 1.0, noise: float = 0.5, seed: int = 0) -> Path:
    """Writes the dataset files (see the module docstring); returns the dataset folder."""
    if min(sessions, items, classes, dim) < 1 or users < 0 or items < classes or \
            not 1 <= successors <= min(classes, len(SUCCESSOR_MASS)) or not 2 <= min_length <= max_length or \
            days < 3 or (max_length - 1) * MAX_GAP >= DAY:
        raise ValueError(f"need sessions, items, classes, dim >= 1, users >= 0, items >= classes, 1 <= successors "
                         f"<= min(classes, {len(SUCCESSOR_MASS)}), 2 <= min_length <= max_length <= 144 and "
                         f"days >= 3 (got sessions={sessions}, items={items}, classes={classes}, dim={dim}, "
                         f"users={users}, successors={successors}, lengths {min_length}-{max_length}, days={days})")
    rng = np.random.default_rng(seed)
    world = make_world(rng, items, classes, successors, dim, zipf, noise)  # first: tests rebuild it from the seed
    lengths = rng.integers(min_length, max_length + 1, size=sessions)
    walks = walk_classes(rng, world.transitions, sessions, max_length)  # [sessions, max_length]
    event_classes = walks[np.arange(max_length) < lengths[:, None]]  # [clicks], session by session
    item_ids = pick_items(rng, world, event_classes) + 1
    session_ids = np.repeat(np.arange(1, sessions + 1), lengths)
    times = click_times(rng, lengths, days)
    columns = [session_ids]
    if users:
        columns.append(np.repeat(rng.integers(1, users + 1, size=sessions), lengths))
    order = np.argsort(times, kind="stable")
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    header = "session_id:token\t" + ("user_id:token\t" if users else "") + "item_id:token\ttimestamp:float\n"
    with open(folder / f"{name}.inter", "wb") as handle:
        handle.write(header.encode("ascii"))
        handle.write(format_rows([column[order] for column in (*columns, item_ids, times)]))
    vec_text = [" ".join(row) for row in np.char.mod("%.4f", world.vectors)]
    lines = [f"{item}\tc{cls}\t{vec}" for item, cls, vec in zip(range(1, items + 1), world.item_class, vec_text)]
    (folder / f"{name}.item").write_text("item_id:token\tcategory:token\tvec:float_seq\n" + "\n".join(lines) + "\n",
                                         encoding="utf-8")
    return folder


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="/tmp/sessynth", help="folder that receives <name>/ (default /tmp/sessynth)")
    parser.add_argument("--name", default="sessynth", help="dataset name (default sessynth)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--sessions", type=int, default=20000, help="sessions (default 20000)")
    parser.add_argument("--items", type=int, default=5000, help="items (default 5000)")
    parser.add_argument("--classes", type=int, default=20, help="latent categories (default 20)")
    parser.add_argument("--min_length", type=int, default=2, help="shortest session (default 2)")
    parser.add_argument("--max_length", type=int, default=10, help="longest session (default 10)")
    parser.add_argument("--days", type=int, default=30, help="days the session starts are spread over (default 30)")
    parser.add_argument("--users", type=int, default=0, help="users the sessions belong to (default 0: no user_id)")
    parser.add_argument("--successors", type=int, default=3, help="likely successor categories (default 3)")
    parser.add_argument("--dim", type=int, default=8, help="vector dimension (default 8)")
    parser.add_argument("--zipf", type=float, default=1.0, help="within-category popularity exponent (default 1.0)")
    parser.add_argument("--noise", type=float, default=0.5,
                        help="std of item vectors around their centroid (default 0.5)")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    settings = {key: value for key, value in vars(args).items() if key != "out"}
    try:
        folder = generate(Path(args.out), **settings)
    except ValueError as error:
        print(f"make_session_synthetic: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {folder} ({args.sessions} sessions over {args.days} days, {args.items} items, "
          f"{args.classes} categories) in {time.perf_counter() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
