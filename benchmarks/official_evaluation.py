"""gru4recf's next-click evaluation against the authors' own (GRU4Rec_PyTorch_Official's
evaluation.batch_eval), both fed the same model's scores.

    python benchmarks/official_evaluation.py --official=/work/scratch_official [--json_out=FILE]

`--official` is a folder holding the authors' gru4rec_pytorch.py and evaluation.py
(github.com/hidasib/GRU4Rec_PyTorch_Official); they are imported from there, never copied here.
The data is make_session_synthetic.py's (3,000 sessions over 10 days, 300 items), loaded and split
by gru4recf (SESSION_ID_FIELD, the time split: last day test, the day before validation). The
model is a first-order table of scores, score(next | current) = M[current, next], so that both
evaluators see exactly the same scores whatever order they read the sessions in: the authors'
walks each test session step by step with a hidden state, ours rebuilds each prefix. Two tables:
integers 0-99 (about three items share each score, so the tie modes differ) and floats (no ties). For each tie mode,
prints Recall and MRR at 5, 10 and 20 from both evaluators, the number of predictions each made,
and the largest difference. The authors' 'median' mode fails with an AttributeError in their code
(`.dim(axis=0)`); it is reported as such and ours is compared with the median rank written out
here instead (marked "by hand").
"""
import argparse
import contextlib
import importlib
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from bench_common import environment, format_table, write_json
from gru4recf.data.batching import HistoryBatches
from gru4recf.evaluation.evaluator import Evaluator
from gru4recf.experiment import load_config, load_data
from make_session_synthetic import generate

CUTOFFS = [5, 10, 20]


class TableModel(nn.Module):
    """Scores of every item after a history: row `last item` of the table [n_items, n_items]."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table)
        self.n_items = table.shape[0]

    def full_scores(self, batch) -> torch.Tensor:
        last = batch.history.gather(1, (batch.lengths - 1).unsqueeze(1)).squeeze(1)  # [B]
        return self.table[last].clone()  # [B, n_items]


class AuthorsModelStub:
    """What the authors' batch_eval reads of a trained GRU4Rec, answering from the same table: their
    item index i is our item id i + 1 (our id 0 is padding). `n_sample` is not 0 so that their
    iterator runs until every test session is read (with 0 it stops once one session is left)."""

    def __init__(self, table: torch.Tensor, authors_module) -> None:
        self.table = table[:, 1:]  # their items are our ids 1..n-1
        self.error_during_train = False
        self.layers = [1]
        self.n_sample = 1
        self.device = torch.device("cpu")
        self.model = self
        item_ids = np.arange(1, table.shape[0])
        self.data_iterator = type("Items", (), {"itemidmap": pd.Series(np.arange(len(item_ids), dtype="int32"),
                                                                         index=item_ids)})()
        self._adjust_hidden = lambda *args: authors_module.GRU4Rec._adjust_hidden(self, *args)

    def forward(self, in_idxs, H, Y, training=False):
        return self.table[in_idxs + 1]  # [B, their n_items]


def authors_metrics(evaluation, stub, test: pd.DataFrame, mode: str) -> dict:
    with contextlib.redirect_stdout(io.StringIO()):
        recall, mrr = evaluation.batch_eval(stub, test.copy(), cutoff=CUTOFFS, batch_size=64, mode=mode)
    return {**{f"recall@{c}": float(recall[c]) for c in CUTOFFS}, **{f"mrr@{c}": float(mrr[c]) for c in CUTOFFS}}


def median_by_hand(scores: torch.Tensor, items: np.ndarray, test) -> dict:
    """Recall and MRR with the median rank written out: 1 + higher + (tied others) / 2."""
    last, targets = items[test.targets - 1], items[test.targets]  # a session's previous click, and the next
    rows = scores[torch.from_numpy(last)][:, 1:].double()  # [P, items]: padding is not an item
    target = rows.gather(1, torch.from_numpy(targets - 1).unsqueeze(1))
    ranks = (rows > target).sum(1) + ((rows == target).sum(1) - 1) / 2 + 1
    hits = {c: (ranks <= c).double() for c in CUTOFFS}
    return {**{f"recall@{c}": float(hits[c].mean()) for c in CUTOFFS},
            **{f"mrr@{c}": float((hits[c] / ranks).mean()) for c in CUTOFFS}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", required=True, help="folder holding gru4rec_pytorch.py and evaluation.py")
    parser.add_argument("--work", default="/tmp/official_evaluation", help="folder for the generated data")
    parser.add_argument("--json_out")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(args.official).resolve()))
    authors, evaluation = importlib.import_module("gru4rec_pytorch"), importlib.import_module("evaluation")
    generate(Path(args.work), name="official_eval", sessions=3000, items=300, classes=10, days=10, seed=3)
    config = load_config("Pop", "official_eval", config_dict={
        "data_path": args.work, "SESSION_ID_FIELD": "session_id", "show_progress": False,
        "eval_args": {"split": {"TS": {"valid_days": 1, "test_days": 1}}}})
    data = load_data(config)
    dataset, test = data.dataset, data.splits["test"]
    sessions = np.unique(test.starts)  # the test sessions' first positions, in session order
    lengths = np.diff(dataset.user_offsets)
    first = dataset.user_offsets[:-1]
    in_test = np.isin(first, sessions) & (lengths > 0)
    rows = np.repeat(np.flatnonzero(in_test), lengths[in_test])
    positions = np.concatenate([np.arange(first[s], first[s] + lengths[s]) for s in np.flatnonzero(in_test)])
    frame = pd.DataFrame({"SessionId": rows, "ItemId": dataset.items[positions], "Time": dataset.times[positions]})
    generator = torch.Generator().manual_seed(0)
    tables = {"integers 0-99 (ties)": torch.randint(0, 100, (dataset.n_items,) * 2, generator=generator).float(),
              "float scores (no ties)": torch.randn((dataset.n_items,) * 2, generator=generator)}
    results, table_rows = [], [["scores", "rank_ties", "metric", "the authors'", "gru4recf", "difference"]]
    for label, scores in tables.items():
        model, stub = TableModel(scores), AuthorsModelStub(scores, authors)
        for mode in ("standard", "conservative", "median"):
            ours = dict(Evaluator(["Recall", "MRR"], CUTOFFS, 12, ties=mode).evaluate(
                model, HistoryBatches(dataset.items, test, 50, 512)))
            try:
                theirs, failure = authors_metrics(evaluation, stub, frame, mode), None
            except Exception as error:  # their code's own failure, reported as it is
                theirs, failure = None, f"{type(error).__name__}: {error}"
            if failure is not None and mode == "median":
                theirs = median_by_hand(scores, dataset.items, test)
            results.append({"scores": label, "rank_ties": mode, "ours": ours, "authors": theirs,
                            "authors_error": failure, "predictions": len(test)})
            for metric, value in ours.items():
                other = "-" if theirs is None else f"{theirs[metric]:.6f}"
                gap = "-" if theirs is None else f"{abs(theirs[metric] - value):.1e}"
                source = other if failure is None else f"{other} (by hand)"
                table_rows.append([label, mode, metric, source, f"{value:.6f}", gap])
    print(f"{len(test):,} test predictions ({len(sessions):,} sessions) over {dataset.n_items - 1} items")
    print(format_table(table_rows, header=True))
    for result in results:
        if result["authors_error"]:
            print(f"authors' {result['rank_ties']} mode ({result['scores']}): {result['authors_error']}")
    if args.json_out:
        write_json(args.json_out, {"environment": environment(), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
