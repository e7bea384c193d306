"""Small generated datasets for tests (written as atomic files)."""
from pathlib import Path

import numpy as np

GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance"]


def write_pattern_dataset(folder: Path, name: str = "toy", n_users: int = 60, n_items: int = 30,
                          length: int = 12, seed: int = 0) -> Path:
    """Users walk the catalogue: after item i comes item i+1 (mod n_items), with random starts.

    The next item is fully predictable from the last one, so a model that trains at all ranks it
    near the top; every item has 1-2 genres, one item ('999') has no .item row.
    """
    rng = np.random.default_rng(seed)
    data = folder / name
    data.mkdir(parents=True, exist_ok=True)
    rows = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for user in range(n_users):
        start = int(rng.integers(n_items))
        for step in range(length):
            rows.append(f"u{user}\t{(start + step) % n_items}\t{1 + step % 5}\t{1000 + step * 10 + user}")
    rows.append(f"u0\t999\t3\t99999")
    (data / f"{name}.inter").write_text("\n".join(rows) + "\n", encoding="utf-8")
    items = ["item_id:token\tclass:token_seq\tyear:float"]
    for item in range(n_items):
        genres = " ".join(GENRES[(item + k) % len(GENRES)] for k in range(1 + item % 2))
        items.append(f"{item}\t{genres}\t{1990 + item}")
    (data / f"{name}.item").write_text("\n".join(items) + "\n", encoding="utf-8")
    return folder


def small_config(tmp_path: Path, **overrides) -> dict:
    """A config dict for fast runs on the pattern dataset under tmp_path."""
    config = {"data_path": str(tmp_path), "log_dir": str(tmp_path / "log"), "checkpoint_dir": str(tmp_path / "saved"),
              "results_dir": str(tmp_path / "results"),
              "epochs": 3, "train_batch_size": 64, "eval_batch_size": 64, "embedding_size": 16, "hidden_size": 16,
              "MAX_ITEM_LIST_LENGTH": 5, "show_progress": False, "num_threads": 1, "learning_rate": 0.01,
              "topk": [5, 10], "metrics": ["Recall", "MRR", "NDCG", "Hit", "Precision"]}
    config.update(overrides)
    return config


def metrics_of(result: dict) -> dict:
    """What a run computed: its result without where it wrote (the results folder differs per run)."""
    return {key: value for key, value in result.items() if key != "results_dir"}


def write_session_dataset(folder: Path, name: str = "toy_sessions", n_sessions: int = 240, n_items: int = 30,
                          days: int = 10, seed: int = 0) -> Path:
    """Anonymous sessions of 2-8 clicks spread evenly over `days` (unix seconds), each walking the
    catalogue (after item i comes i+1 mod n_items) from a random start: a time split has sessions
    in every window and the next click is predictable from the current one."""
    rng = np.random.default_rng(seed)
    data = folder / name
    data.mkdir(parents=True, exist_ok=True)
    rows = ["session_id:token\titem_id:token\ttimestamp:float"]
    for session in range(n_sessions):
        begin = 1_600_000_000 + session * days * 86400 // n_sessions
        start, length = int(rng.integers(n_items)), int(rng.integers(2, 9))
        rows += [f"s{session}\t{(start + step) % n_items}\t{begin + 30 * step}" for step in range(length)]
    (data / f"{name}.inter").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder
