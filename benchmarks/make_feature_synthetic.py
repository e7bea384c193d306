"""A synthetic dataset whose next item is driven by item features that item ids alone learn slowly.

    python benchmarks/make_feature_synthetic.py                          # /tmp/featsynth/featsynth/
    python benchmarks/make_feature_synthetic.py --users=500 --items=1000 --out=/tmp/fs --name=fs-small

The generating process (all vectorised numpy, ~1 s at the default size):
- `--classes` latent classes (default 40); `--items` items (default 8,000) spread evenly over them;
  within a class, popularity is Zipf over a random ranking (p(rank r) ~ 1/r**zipf, default 1.0), so
  most items are rare;
- a class-level Markov chain: each class has `--successors` likely successor classes (default 3,
  taking 50/25/15% of the mass), the remaining 10% spread over all classes; a session starts in a
  random class, and at every step moves along the chain, then picks an item of the new class by
  popularity. The next item therefore depends on the previous item's class only;
- each item has `class:token_seq` (its class token `c<k>`, plus with probability
  `--noise_token_prob` one random other class token) and `vec:float_seq` (dimension `--dim`,
  default 16: the class centroid, a standard normal vector, plus N(0, `--noise`^2) noise,
  rounded to 4 decimals);
- `--users` users (default 5,000), each with a uniform `--min_length`..`--max_length` events
  (default 20-40, ~150k interactions); timestamps strictly increase per user, rows are written in
  global time order.

Writes `<out>/<name>/<name>.inter` (user_id:token item_id:token timestamp:float),
`<name>.item` (item_id:token class:token_seq vec:float_seq), and the same vectors as
`<name>_vec.npy` (float32 [items, dim], rows in a shuffled item order) with `<name>_vec.tokens`
(the item token of each row), for `item_vector_files={'emb': '<name>_vec.npy'}`.
"""
import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from make_synthetic import format_rows, timestamps

SUCCESSOR_MASS = (0.5, 0.25, 0.15, 0.05, 0.03, 0.02)
UNIFORM_MASS = 0.1


@dataclass(frozen=True)
class FeatureWorld:
    """The latent structure: item classes [items], class centroids [classes, dim], item vectors
    [items, dim], the class transition matrix [classes, classes] (rows sum to 1), within-class
    popularity [items] (sums to 1 within each class). Item i has token str(i + 1)."""

    item_class: np.ndarray
    centroids: np.ndarray
    vectors: np.ndarray
    transitions: np.ndarray
    popularity: np.ndarray


def make_world(rng: np.random.Generator, items: int, classes: int, successors: int, dim: int,
               zipf: float, noise: float) -> FeatureWorld:
    """Draws classes, popularity, vectors and the class transition matrix."""
    item_class = rng.permutation(np.arange(items) % classes)
    rank = np.empty(items, np.int64)  # a random popularity rank within each class, 1 = most popular
    order = np.lexsort((rng.random(items), item_class))
    starts = np.searchsorted(item_class[order], np.arange(classes))
    rank[order] = np.arange(items) - np.repeat(starts, np.bincount(item_class, minlength=classes)) + 1
    weight = 1.0 / rank.astype(np.float64) ** zipf
    popularity = weight / np.bincount(item_class, weight, minlength=classes)[item_class]
    centroids = rng.normal(size=(classes, dim))
    vectors = np.round(centroids[item_class] + noise * rng.normal(size=(items, dim)), 4)
    mass = np.asarray(SUCCESSOR_MASS[:successors])
    transitions = np.full((classes, classes), UNIFORM_MASS / classes)
    keys = rng.random((classes, classes))
    targets = np.argsort(keys, axis=1)[:, :successors]  # [classes, successors], distinct per row
    np.put_along_axis(transitions, targets, np.take_along_axis(transitions, targets, 1) + mass, 1)
    transitions /= transitions.sum(axis=1, keepdims=True)
    return FeatureWorld(item_class, centroids, vectors, transitions, popularity)


def walk_classes(rng: np.random.Generator, transitions: np.ndarray, users: int, steps: int) -> np.ndarray:
    """[users, steps] class of each event: a random start, then the Markov chain, all users at once."""
    cumulative = np.cumsum(transitions, axis=1)  # [classes, classes]
    classes = np.empty((users, steps), np.int64)
    classes[:, 0] = rng.integers(len(transitions), size=users)
    for step in range(1, steps):
        row = cumulative[classes[:, step - 1]]  # [users, classes]
        classes[:, step] = np.minimum((row < rng.random((users, 1))).sum(axis=1), len(transitions) - 1)
    return classes


def pick_items(rng: np.random.Generator, world: FeatureWorld, classes: np.ndarray) -> np.ndarray:
    """[n] item index (0-based) of each event: by popularity within the event's class.

    Items sorted by class, with edges = class + within-class cumulative popularity, form one
    increasing array in which class c + u (u uniform in [0, 1)) falls in class c's stretch."""
    order = np.argsort(world.item_class, kind="stable")
    sorted_class = world.item_class[order]
    first = np.searchsorted(sorted_class, sorted_class)  # [items] first position of each item's class
    last = np.searchsorted(sorted_class, sorted_class, side="right") - 1
    total = np.cumsum(world.popularity[order])
    within = total - total[first] + world.popularity[order][first]
    within[last] = 1.0  # exact class ends, whatever the rounding
    picked = np.searchsorted(sorted_class + within, classes + rng.random(len(classes)), side="right")
    return order[np.minimum(picked, last[np.searchsorted(sorted_class, classes)])]


def class_tokens(rng: np.random.Generator, item_class: np.ndarray, classes: int, noise_token_prob: float) -> list:
    """Per item 'c<k>', or 'c<k> c<j>' (j a random other class) with probability noise_token_prob."""
    other = (item_class + rng.integers(1, max(classes, 2), size=len(item_class))) % classes
    noisy = (rng.random(len(item_class)) < noise_token_prob) & (classes > 1)
    return [f"c{k} c{j}" if extra else f"c{k}" for k, j, extra in zip(item_class, other, noisy)]


def generate(out: Path, name: str = "featsynth", users: int = 5000, items: int = 8000, classes: int = 40,
             min_length: int = 20, max_length: int = 40, successors: int = 3, dim: int = 16, zipf: float = 1.0,
             noise: float = 0.5, noise_token_prob: float = 0.2, seed: int = 0) -> Path:
    """Writes the dataset files (see the module docstring); returns the dataset folder."""
    if min(users, items, classes, dim) < 1 or not 1 <= successors <= min(classes, len(SUCCESSOR_MASS)) \
            or not 4 <= min_length <= max_length or items < classes:
        raise ValueError(f"need users, items, classes, dim >= 1, items >= classes, 1 <= successors <= "
                         f"min(classes, {len(SUCCESSOR_MASS)}) and 4 <= min_length <= max_length (got users={users}, "
                         f"items={items}, classes={classes}, dim={dim}, successors={successors}, "
                         f"lengths {min_length}-{max_length})")
    rng = np.random.default_rng(seed)
    world = make_world(rng, items, classes, successors, dim, zipf, noise)
    lengths = rng.integers(min_length, max_length + 1, size=users)
    walks = walk_classes(rng, world.transitions, users, max_length)  # [users, max_length]
    event_classes = walks[np.arange(max_length) < lengths[:, None]]  # [n], user by user
    item_ids = pick_items(rng, world, event_classes) + 1
    user_ids = np.repeat(np.arange(1, users + 1), lengths)
    times = timestamps(rng, lengths)
    order = np.argsort(times, kind="stable")
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.inter", "wb") as handle:
        handle.write(b"user_id:token\titem_id:token\ttimestamp:float\n")
        handle.write(format_rows([user_ids[order], item_ids[order], times[order]]))
    tokens = class_tokens(rng, world.item_class, classes, noise_token_prob)
    vec_text = [" ".join(row) for row in np.char.mod("%.4f", world.vectors)]
    lines = [f"{item}\t{cls}\t{vec}" for item, cls, vec in zip(range(1, items + 1), tokens, vec_text)]
    (folder / f"{name}.item").write_text("item_id:token\tclass:token_seq\tvec:float_seq\n" + "\n".join(lines) + "\n",
                                         encoding="utf-8")
    rows = rng.permutation(items)  # the .npy rows need not follow item ids: the .tokens file keys them
    np.save(folder / f"{name}_vec.npy", world.vectors[rows].astype(np.float32), allow_pickle=False)
    (folder / f"{name}_vec.tokens").write_text("\n".join(str(i + 1) for i in rows) + "\n", encoding="utf-8")
    return folder


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="/tmp/featsynth", help="folder that receives <name>/ (default /tmp/featsynth)")
    parser.add_argument("--name", default="featsynth", help="dataset name (default featsynth)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--users", type=int, default=5000, help="users (default 5000)")
    parser.add_argument("--items", type=int, default=8000, help="items (default 8000)")
    parser.add_argument("--classes", type=int, default=40, help="latent classes (default 40)")
    parser.add_argument("--min_length", type=int, default=20, help="shortest user sequence (default 20)")
    parser.add_argument("--max_length", type=int, default=40, help="longest user sequence (default 40)")
    parser.add_argument("--successors", type=int, default=3, help="likely successor classes per class (default 3)")
    parser.add_argument("--dim", type=int, default=16, help="vector dimension (default 16)")
    parser.add_argument("--zipf", type=float, default=1.0, help="within-class popularity exponent (default 1.0)")
    parser.add_argument("--noise", type=float, default=0.5,
                        help="std of item vectors around their centroid (default 0.5)")
    parser.add_argument("--noise_token_prob", type=float, default=0.2,
                        help="probability of an extra random class token per item (default 0.2)")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    settings = {key: value for key, value in vars(args).items() if key != "out"}
    try:
        folder = generate(Path(args.out), **settings)
    except ValueError as error:
        print(f"make_feature_synthetic: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {folder} ({args.users} users, {args.items} items, {args.classes} classes, d={args.dim}) "
          f"in {time.perf_counter() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
