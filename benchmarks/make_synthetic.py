"""Synthetic RecBole atomic files for scale benchmarks: Zipf item popularity, heavy-tailed users.

    python benchmarks/make_synthetic.py --preset=1m  --out=/tmp/synth        # synth-1m
    python benchmarks/make_synthetic.py --preset=10m --out=/tmp/synth        # synth-10m
    python benchmarks/make_synthetic.py --interactions=1000000 --users=50000 --items=20000 \
        --out=/tmp/synth --name=synth-1m --seed=0

Writes `<out>/<name>/<name>.inter` (user_id:token item_id:token rating:float timestamp:float, as
MovieLens) and `<name>.item` (item_id:token class:token_seq, 1-4 genres per item from 20).

The shape of the data, which is what the speed of a sequential recommender depends on:
- item popularity p(rank r) ~ 1 / (r + 1) ** zipf (default 0.8: with 200k items the top item
  takes ~2% of interactions and the median item ~0.002%); ranks are shuffled onto item ids, and
  every item occurs at least once so the catalogue has exactly `--items` items;
- users' sequence lengths are 5 + lognormal (sigma 1.2 by default: median ~12, a few users
  with thousands of events), scaled so that the total is exactly `--interactions`;
- each user's timestamps strictly increase (integer seconds, lognormal gaps around an hour);
  rows are written in global time order, as a log would be.

Everything is vectorised numpy; rows are formatted as bytes block by block (10M rows: seconds).
Output goes where `--out` says; keep generated data out of the repository.
"""
import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

PRESETS = {"1m": (1_000_000, 50_000, 20_000), "10m": (10_000_000, 500_000, 200_000)}
GENRES = ("Drama", "Comedy", "Action", "Thriller", "Romance", "Adventure", "Crime", "Sci-Fi", "Horror",
          "Children's", "War", "Mystery", "Musical", "Animation", "Documentary", "Western", "Fantasy",
          "Film-Noir", "Biography", "Sport")
MIN_LENGTH = 5
_ROWS_PER_BLOCK = 1 << 20
_NUL = 0


def sequence_lengths(rng: np.random.Generator, users: int, interactions: int, sigma: float) -> np.ndarray:
    """[users] lengths >= MIN_LENGTH, 5 + lognormal-shaped, summing exactly to `interactions`."""
    extra_total = interactions - MIN_LENGTH * users
    shape = rng.lognormal(0.0, sigma, size=users)
    share = shape / shape.sum() * extra_total
    extra = np.floor(share).astype(np.int64)
    missing = extra_total - int(extra.sum())  # < users: give them to the largest remainders
    if missing:
        extra[np.argpartition(extra - share, missing - 1)[:missing]] += 1
    return extra + MIN_LENGTH


def item_draws(rng: np.random.Generator, n: int, items: int, zipf: float) -> np.ndarray:
    """[n] item ids in 1..items with p(rank r) ~ 1/(r+1)**zipf; every item drawn at least once."""
    weights = 1.0 / np.arange(1, items + 1, dtype=np.float64) ** zipf
    ranks = rng.choice(items, size=n, p=weights / weights.sum())
    if n >= items:  # the catalogue is exactly `items`: place each item once at random positions
        ranks[rng.choice(n, size=items, replace=False)] = np.arange(items)
    id_of_rank = rng.permutation(items) + 1
    return id_of_rank[ranks]


def timestamps(rng: np.random.Generator, lengths: np.ndarray, start: int = 1_500_000_000,
               span: int = 2 * 365 * 86400) -> np.ndarray:
    """Per user, strictly increasing integer seconds: a random start plus lognormal gaps (>= 1 s)."""
    total = int(lengths.sum())
    gaps = np.maximum(rng.lognormal(np.log(3600.0), 2.0, size=total), 1.0).astype(np.int64)
    first = np.cumsum(lengths) - lengths
    gaps[first] = rng.integers(start, start + span, size=len(lengths))  # each user's first event
    running = np.cumsum(gaps)
    return running - np.repeat(running[first] - gaps[first], lengths)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers [N] -> ASCII digits [N, width], left-padded with NUL bytes."""
    values = values.astype(np.int64)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (values[:, None] // powers) % 10  # [N, width]
    shown = (values[:, None] >= powers) | (powers == 1)  # no leading zeros; 0 prints as '0'
    return np.where(shown, digits + ord("0"), _NUL).astype(np.uint8)


def format_rows(columns: Sequence[np.ndarray]) -> bytes:
    """Tab-separated lines of non-negative integer columns, formatted without a per-row loop."""
    parts = []
    tab = np.full((len(columns[0]), 1), ord("\t"), np.uint8)
    for index, column in enumerate(columns):
        width = max(len(str(int(column.max(initial=0)))), 1)
        parts += [_digits(column, width), tab]
    parts[-1] = np.full_like(tab, ord("\n"))
    matrix = np.concatenate(parts, axis=1).ravel()  # [N * row width]
    return matrix[matrix != _NUL].tobytes()


def item_genres(rng: np.random.Generator, items: int) -> list:
    """Per item a space-separated string of 1-4 distinct genres; common genres are more frequent."""
    counts = rng.choice(np.arange(1, 5), size=items, p=[0.45, 0.30, 0.17, 0.08])
    weights = 1.0 / np.arange(1, len(GENRES) + 1) ** 0.7
    keys = np.log(weights) + rng.gumbel(size=(items, len(GENRES)))  # Gumbel top-k: weighted, distinct
    chosen = np.argsort(-keys, axis=1)[:, :4]
    names = np.asarray(GENRES, dtype=object)
    return [" ".join(names[row[:k]]) for row, k in zip(chosen, counts)]


def generate(out: Path, name: str, interactions: int, users: int, items: int, seed: int = 0,
             zipf: float = 0.8, sigma: float = 1.2) -> Path:
    """Writes `<out>/<name>/<name>.inter` and `.item`; returns the dataset folder."""
    if users < 1 or items < 1 or interactions < MIN_LENGTH * users:
        raise ValueError(f"need users >= 1, items >= 1 and interactions >= {MIN_LENGTH} * users "
                         f"(got interactions={interactions}, users={users}, items={items})")
    rng = np.random.default_rng(seed)
    lengths = sequence_lengths(rng, users, interactions, sigma)
    user_ids = np.repeat(rng.permutation(users) + 1, lengths)
    item_ids = item_draws(rng, interactions, items, zipf)
    times = timestamps(rng, lengths)
    ratings = rng.choice(np.arange(1, 6), size=interactions, p=[0.06, 0.11, 0.27, 0.34, 0.22])
    order = np.argsort(times, kind="stable")  # a log: global time order (per-user order kept)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.inter", "wb") as handle:
        handle.write(b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        for first in range(0, interactions, _ROWS_PER_BLOCK):
            rows = order[first:first + _ROWS_PER_BLOCK]
            handle.write(format_rows([user_ids[rows], item_ids[rows], ratings[rows], times[rows]]))
    lines = [f"{item}\t{genres}" for item, genres in zip(range(1, items + 1), item_genres(rng, items))]
    (folder / f"{name}.item").write_text("item_id:token\tclass:token_seq\n" + "\n".join(lines) + "\n",
                                         encoding="utf-8")
    return folder


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), help="1m: 1M/50k users/20k items; 10m: 10M/500k/200k")
    parser.add_argument("--interactions", type=int, help="rows of the .inter file")
    parser.add_argument("--users", type=int, help="distinct users (each has >= 5 interactions)")
    parser.add_argument("--items", type=int, help="distinct items (each occurs at least once)")
    parser.add_argument("--out", default="/tmp/synth", help="folder that receives <name>/ (default /tmp/synth)")
    parser.add_argument("--name", help="dataset name (default synth-<preset>)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--zipf", type=float, default=0.8, help="item popularity exponent (default 0.8)")
    parser.add_argument("--sigma", type=float, default=1.2, help="lognormal sigma of sequence lengths (default 1.2)")
    args = parser.parse_args(argv)
    preset = PRESETS.get(args.preset, (None, None, None))
    for key, value in zip(("interactions", "users", "items"), preset):
        if getattr(args, key) is None:
            setattr(args, key, value)
    missing = [f"--{key}" for key in ("interactions", "users", "items") if getattr(args, key) is None]
    if missing:
        parser.error(f"give --preset or all of {', '.join(missing)}")
    if args.name is None:
        args.name = f"synth-{args.preset}" if args.preset else f"synth-{args.interactions}"
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        folder = generate(Path(args.out), args.name, args.interactions, args.users, args.items, args.seed,
                          args.zipf, args.sigma)
    except ValueError as error:
        print(f"make_synthetic: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {folder} ({args.interactions} interactions, {args.users} users, {args.items} items) "
          f"in {time.perf_counter() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
