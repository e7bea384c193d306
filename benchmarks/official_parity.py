"""GRU4Rec trained by its authors' code and by gru4recf with the same settings on the same sessions.

    python benchmarks/official_parity.py --official=/work/scratch_official [--loss=both] [--seeds=3]
        [--epochs=5] [--implementations=official,session_parallel,sequence] [--json_out=FILE]
    python benchmarks/official_parity.py --markdown benchmarks/results/official_parity.json

`--official` is a folder holding the authors' gru4rec_pytorch.py and evaluation.py
(github.com/hidasib/GRU4Rec_PyTorch_Official); it is imported from there, never copied here. Both
implementations train on a small synthetic session set written by this script (sessions of 2-10
clicks following first-order item transitions, about 20k events over 500 items and 8 days) with a
time split: train = every session but those ending in the last day; test = the last day's
sessions, their items unseen in training removed and sessions left with < 2 clicks dropped. The
official code reads the TAB-separated SessionId/ItemId/Time file; gru4recf reads the same sessions
as atomic files (`session_id` as USER_ID_FIELD: one sequence per session).

Both are scored by the authors' evaluation rule: next-click at every position of every test
session, rank = number of items scoring >= the target (their 'conservative' ties), Recall@20 and
MRR@20, no item masked. For gru4recf the rule is applied here to the model's scores. Printed: one
row per (loss, implementation) with the mean and spread over the seeds and the seconds per
training epoch, plus gru4recf's train_mode 'sequence' on the same set (same loss, the same number
of targets per optimiser step) beside its session-parallel epoch time. One thread each.
"""
import argparse
import contextlib
import importlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_common import environment, format_table, write_json  # noqa: E402
from gru4recf.data.batching import HistoryBatches  # noqa: E402
from gru4recf.data.dataset import load_dataset  # noqa: E402
from gru4recf.data.split import Examples  # noqa: E402
from gru4recf.experiment import LoadedData, build_run, data_settings, load_config  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "gru4rec_official.yaml"
DAY = 86400.0
NEXT = [.3, .2, .15, .15, .1, .1]  # the probabilities of an item's successors

# The shared settings, by the official parameter names and ours (the rest as configs/gru4rec_official.yaml).
SETTINGS = {
    "BPR-max": {"loss": "bpr-max", "layers": [100], "batch_size": 32, "dropout_p_embed": 0.1, "dropout_p_hidden": 0.1,
                "learning_rate": 0.05, "momentum": 0.3, "n_sample": 256, "sample_alpha": 0.5, "bpreg": 1.0,
                "elu_param": 0.5, "logq": 0.0},
    "CE-batch": {"loss": "cross-entropy", "layers": [100], "batch_size": 32, "dropout_p_embed": 0.1,
                 "dropout_p_hidden": 0.1, "learning_rate": 0.05, "momentum": 0.3, "n_sample": 256,
                 "sample_alpha": 0.5, "bpreg": 0.0, "elu_param": 0.0, "logq": 1.0},
}


def ours(official: dict) -> dict:
    """The official settings as gru4recf keys."""
    return {"loss_type": "BPR-max" if official["loss"] == "bpr-max" else "CE-batch",
            "embedding_size": official["layers"][0], "hidden_size": official["layers"][0],
            "train_batch_size": official["batch_size"], "dropout_prob": official["dropout_p_embed"],
            "hidden_dropout_prob": official["dropout_p_hidden"], "learning_rate": official["learning_rate"],
            "momentum": official["momentum"], "n_sample": official["n_sample"],
            "sample_alpha": official["sample_alpha"], "bpreg": official["bpreg"],
            "elu_param": official["elu_param"], "logq": official["logq"]}


def make_sessions(seed: int = 7, n_items: int = 500, n_events: int = 20000, days: int = 8) -> pd.DataFrame:
    """SessionId, ItemId, Time of synthetic sessions: lengths 2-10, each click followed by one of
    its item's 6 successors (probabilities .3/.2/.15/.15/.1/.1) or, one time in five, a popular item."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    successors = rng.integers(0, n_items, size=(n_items, 6))
    lengths = rng.integers(2, 11, size=n_events // 6)
    starts = np.sort(rng.uniform(0, days * DAY - 3600, size=len(lengths)))
    rows = []
    for session, (length, start) in enumerate(zip(lengths, starts)):  # a generator, not library code
        item = rng.choice(n_items, p=popularity)
        for click in range(length):
            rows.append((session, f"i{item}", start + 60.0 * click))
            jump = rng.random() < 0.2
            item = rng.choice(n_items, p=popularity) if jump else successors[item, rng.choice(6, p=NEXT)]
    return pd.DataFrame(rows, columns=["SessionId", "ItemId", "Time"])


def time_split(data: pd.DataFrame) -> tuple:
    """(train, test): test = the sessions ending in the last day, without items unseen in train and
    without sessions shorter than 2 after that."""
    ends = data.groupby("SessionId")["Time"].max()
    test_sessions = ends.index[ends >= data["Time"].max() - DAY]
    in_test = data["SessionId"].isin(test_sessions)
    train, test = data[~in_test], data[in_test]
    test = test[test["ItemId"].isin(train["ItemId"].unique())]
    test = test[test.groupby("SessionId")["ItemId"].transform("size") >= 2]
    return train.reset_index(drop=True), test.reset_index(drop=True)


def write_atomic(train: pd.DataFrame, test: pd.DataFrame, folder: Path, name: str) -> None:
    """Train then test sessions, each in session-start order (our loader numbers sequences in file
    order, so session-parallel rows take them in time order, as the official iterator)."""
    (folder / name).mkdir(parents=True, exist_ok=True)
    frame = pd.concat([train, test])
    lines = ["session_id:token\titem_id:token\ttimestamp:float"]
    lines += [f"s{s}\t{i}\t{t:.1f}" for s, i, t in zip(frame["SessionId"], frame["ItemId"], frame["Time"])]
    (folder / name / f"{name}.inter").write_text("\n".join(lines) + "\n", encoding="utf-8")


def conservative_metrics(scores: torch.Tensor, targets: torch.Tensor, cutoff: int = 20) -> tuple:
    """Sums of recall and MRR hits over a batch: rank = number of items scoring >= the target."""
    target_scores = scores.gather(1, targets.unsqueeze(1))  # [B, 1]
    ranks = (scores >= target_scores).sum(dim=1).float()
    hit = ranks <= cutoff
    return float(hit.sum()), float((hit / ranks).sum())


class TorchForPandas2:
    """torch, except that `tensor` takes a pandas Series as its values: the authors' log-Q path
    builds torch.tensor(Series), which current torch refuses. Their module is given this instead of
    torch; nothing else changes."""

    def __getattr__(self, name: str):
        return getattr(torch, name)

    @staticmethod
    def tensor(data, *args, **kwargs):
        return torch.tensor(data.values if isinstance(data, pd.Series) else data, *args, **kwargs)


def run_official(module, train: pd.DataFrame, test: pd.DataFrame, settings: dict, seed: int, epochs: int) -> dict:
    """The authors' GRU4Rec trained on `train` (CPU, one thread) and scored by their batch_eval."""
    gru4rec, evaluation = module
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = gru4rec.GRU4Rec(device=torch.device("cpu"), n_epochs=epochs, constrained_embedding=True, embedding=0,
                            **settings)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        # compatibility_mode=False: their torch initialisation (the same uniform ranges, drawn from the seed);
        # their numpy one fails under NumPy 2 (float64 weights for a float32 model)
        model.fit(train.copy(), sample_cache_max_size=settings["n_sample"] * 1000, compatibility_mode=False)
    seconds = (time.perf_counter() - start) / epochs
    with contextlib.redirect_stdout(io.StringIO()):
        # their iterator needs at least batch_size test sessions (and stops once fewer than 2 are left)
        recall, mrr = evaluation.batch_eval(model, test.copy(), cutoff=[20], batch_size=64, mode="conservative")
    return {"recall@20": float(recall[20]), "mrr@20": float(mrr[20]), "epoch_seconds": seconds}


def session_examples(offsets: np.ndarray, sessions: np.ndarray) -> Examples:
    """Every next-click example (positions 1..n-1) of the `sessions` (sequence numbers)."""
    starts, ends = offsets[sessions], offsets[sessions + 1]
    counts = ends - starts - 1
    targets = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum()) + 1
    return Examples(targets.astype(np.int64), np.repeat(starts, counts).astype(np.int64))


def run_ours(folder: Path, name: str, n_train: int, settings: dict, seed: int, epochs: int, mode: str) -> dict:
    """gru4recf's GRU4Rec (configs/gru4rec_official.yaml with `settings`) trained `epochs` epochs in
    train_mode `mode`, scored by the authors' rule."""
    overrides = dict(ours(settings), data_path=str(folder), USER_ID_FIELD="session_id", seed=seed, epochs=epochs,
                     train_mode=mode, num_threads=1, show_progress=False, MAX_ITEM_LIST_LENGTH=10,
                     segment_length=None)
    config = load_config("GRU4Rec", name, [str(CONFIG)], overrides)
    dataset = load_dataset(data_settings(config))
    sequences = np.arange(dataset.n_users - 1) + 1  # sequence 0 is padding; numbered in file order
    train = session_examples(dataset.user_offsets, sequences[:n_train])
    test = session_examples(dataset.user_offsets, sequences[n_train:])
    run = build_run(config, LoadedData(dataset, {"train": train, "valid": test, "test": test}), torch.device("cpu"))
    trainer, batches = run.trainer, run.batches.train
    start = time.perf_counter()
    for epoch in range(epochs):
        batches.set_epoch(epoch)
        trainer.train_epoch(batches, epoch)
    seconds = (time.perf_counter() - start) / epochs
    run.model.eval()
    hits = reciprocal = 0.0
    with torch.no_grad():
        for batch in HistoryBatches(dataset.items, test, 10, 512):
            scores = run.model.full_scores(batch)[:, 1:]  # [B, n_items - 1]: padding is not an item
            recall, mrr = conservative_metrics(scores, batch.targets - 1)
            hits, reciprocal = hits + recall, reciprocal + mrr
    return {"recall@20": hits / len(test), "mrr@20": reciprocal / len(test), "epoch_seconds": seconds}


def summary(runs: list) -> dict:
    """Mean and standard deviation of each figure over the seeds, and the runs themselves."""
    out = {"runs": runs}
    for key in ("recall@20", "mrr@20", "epoch_seconds"):
        values = [run[key] for run in runs]
        out[key] = statistics.mean(values)
        out[key + "_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out


def markdown(results: dict) -> str:
    """The Markdown table of a JSON written by --json_out (docs/models/GRU4Rec.md shows it)."""
    lines = ["| loss | implementation | Recall@20 | MRR@20 | s/epoch |", "|---|---|---|---|---|"]
    for name, figures in results["results"].items():
        loss, implementation = name.split(" ", 1)
        lines.append(f"| {loss} | {implementation} | {figures['recall@20']:.4f} ± {figures['recall@20_sd']:.4f} | "
                     f"{figures['mrr@20']:.4f} ± {figures['mrr@20_sd']:.4f} | {figures['epoch_seconds']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", help="folder with the authors' gru4rec_pytorch.py")
    parser.add_argument("--markdown", metavar="JSON", help="print the Markdown table of a --json_out file and stop")
    parser.add_argument("--loss", choices=("both", "BPR-max", "CE-batch"), default="both")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--implementations", default="official,session_parallel,sequence",
                        help="which of official, session_parallel (gru4recf) and sequence (gru4recf) to run")
    parser.add_argument("--json_out", default=None)
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text(encoding="utf-8"))))
        return
    if not args.official:
        parser.error("--official is required to train (or give --markdown)")
    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(args.official).resolve()))
    module = importlib.import_module("gru4rec_pytorch"), importlib.import_module("evaluation")
    module[0].torch = TorchForPandas2()
    train, test = time_split(make_sessions())
    n_train = train["SessionId"].nunique()
    print(f"sessions: train {n_train} ({len(train)} events), test {test['SessionId'].nunique()} ({len(test)} events), "
          f"items {train['ItemId'].nunique()}", flush=True)
    losses = list(SETTINGS) if args.loss == "both" else [args.loss]
    results, rows = {}, []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        write_atomic(train, test, folder, "sessions")
        for loss in losses:
            settings = SETTINGS[loss]
            runs = {"official": lambda seed: run_official(module, train, test, settings, seed, args.epochs),
                    "gru4recf session_parallel": lambda seed: run_ours(folder, "sessions", n_train, settings, seed,
                                                                       args.epochs, "session_parallel"),
                    "gru4recf sequence": lambda seed: run_ours(folder, "sessions", n_train, settings, seed,
                                                               args.epochs, "sequence")}
            chosen = {"official": "official", "session_parallel": "gru4recf session_parallel",
                      "sequence": "gru4recf sequence"}
            wanted = [chosen[name] for name in args.implementations.split(",")]
            for implementation, run in [(name, run) for name, run in runs.items() if name in wanted]:
                figures = summary([run(seed) for seed in range(args.seeds)])
                results[f"{loss} {implementation}"] = figures
                rows.append([loss, implementation, f"{figures['recall@20']:.4f} ± {figures['recall@20_sd']:.4f}",
                             f"{figures['mrr@20']:.4f} ± {figures['mrr@20_sd']:.4f}",
                             f"{figures['epoch_seconds']:.2f}"])
                print(" | ".join(rows[-1]), flush=True)
    print(format_table([["loss", "implementation", "Recall@20 (mean ± sd)", "MRR@20 (mean ± sd)", "s/epoch"]] + rows,
                       header=True))
    if args.json_out:
        write_json(args.json_out, {"settings": SETTINGS, "epochs": args.epochs, "seeds": args.seeds,
                                   "results": results, "environment": environment()})


if __name__ == "__main__":
    main()
