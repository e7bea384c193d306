"""The same models under both evaluation protocols: RecBole's leave-one-out (the last item of each
sequence) and the session protocol's time split (the next click at every position of the test
sequences, or only the last), each run a `python run.py` child process trained to early stopping.

    python benchmarks/protocols.py --data_path=../shared/datasets [--datasets=ml-100k,sessynth] \
        [--synthetic_path=/tmp/sessynth] [--models=GRU4Rec,GRU4RecF,GRU4Rec-official-CE] [--protocols=0,1,2] \
        [--seeds=2020] [--num_threads=1] [--timeout=S] [--json_out=FILE] [--resume] [--key=value ...]
    python benchmarks/protocols.py --markdown FILE.json [FILE.json ...]

Every run reports Recall and MRR at 10 and 20 and selects its best epoch on validation MRR@20 (the
GRU4Rec papers' metric), whatever the protocol. A model of the registry trains in its fastest mode
with its defaults; the variants GRU4Rec-official-CE and GRU4Rec-official-BPR-max train as the
authors' code (configs/gru4rec_official.yaml: session_parallel, CE-batch or BPR-max over the
batch's targets plus shared samples). `sessynth` is make_session_synthetic.py's default set (20,000
sessions over 30 days, 5,000 items whose category drives the next click), written to
--synthetic_path when it is not there; its time split is the last day for test and the day before
for validation, and GRU4RecF reads its `category` feature.

Beside the runs, for each dataset and protocol the script counts the test predictions and measures
leakage: the share of test targets older than the latest training interaction, and the mean share
of the training interactions that come after the test target they help to predict. Under the time
split every training interaction precedes the validation window: only test clicks older than that
(early in a long sequence) can have training data after them. Any further --key=value goes to
every run. `--json_out` is rewritten after every run and `--resume` skips runs it holds with the
same settings, as in zoo.py.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np

from bench_common import environment, fmt, format_table, write_json
from gru4recf.config import parse_cli_args
from gru4recf.experiment import load_config, load_data
from gru4recf.models.registry import models
from make_session_synthetic import generate
from zoo import fastest_mode, mean_std, run_one, run_settings

METRICS = ("recall@10", "mrr@10", "recall@20", "mrr@20")
SELECTION = {"metrics": ["Recall", "MRR"], "topk": [10, 20], "valid_metric": "MRR@20"}

# the datasets this benchmark knows: keys that load them, and their time split's windows
DATASETS: Dict[str, dict] = {
    "ml-100k": {"keys": {}, "windows": {"valid_fraction": 0.1, "test_fraction": 0.1}, "model_keys": {}},
    "sessynth": {"keys": {"SESSION_ID_FIELD": "session_id"}, "windows": {"valid_days": 1, "test_days": 1},
                 "model_keys": {"GRU4RecF": {"selected_features": ["category"]}}},
}
PROTOCOLS = ("leave-one-out", "time split, next click", "time split, last click")
# named variants besides the registry's models (which train in their fastest mode with their defaults):
# label -> (model, train_mode, keys)
OFFICIAL = "configs/gru4rec_official.yaml"
VARIANTS = {
    "GRU4Rec-official-CE": ("GRU4Rec", "session_parallel", {"config_files": OFFICIAL}),
    "GRU4Rec-official-BPR-max": ("GRU4Rec", "session_parallel", {"config_files": OFFICIAL, "loss_type": "BPR-max"}),
}


def protocol_keys(protocol: str, windows: dict) -> dict:
    """The evaluation keys of one protocol."""
    if protocol == "leave-one-out":
        return {"eval_args": {"split": {"LS": "valid_and_test"}}}
    return {"eval_args": {"split": {"TS": dict(windows)}},
            "eval_positions": "all" if protocol.endswith("next click") else "last"}


def leakage(dataset: str, data_path: str, keys: dict, protocol: str) -> dict:
    """Test predictions of a protocol and, measured on interaction times, how much of the training
    data lies after each test target."""
    config = load_config("Pop", dataset, config_dict=dict(keys, data_path=data_path, show_progress=False))
    data = load_data(config)
    times, splits = data.dataset.times, data.splits
    trained = np.zeros(len(times), dtype=bool)  # every interaction training reads: its targets and histories
    trained[splits["train"].targets] = trained[splits["train"].starts] = True
    train_times = np.sort(times[trained])
    test_times = times[splits["test"].targets]
    later = len(train_times) - np.searchsorted(train_times, test_times, side="right")
    return {"test_predictions": int(len(test_times)),
            "test_older_than_training": float((test_times < train_times[-1]).mean()),
            "training_after_target": float((later / len(train_times)).mean())}


def summaries(runs: List[dict], leaks: Dict[str, dict]) -> List[dict]:
    """Per (dataset, model, protocol): mean and sample std over finished seeds of every metric."""
    groups: Dict[tuple, List[dict]] = {}
    for run in runs:
        groups.setdefault((run["dataset"], run["model"], run["protocol"]), []).append(run)
    out = []
    for (dataset, model, protocol), members in groups.items():
        done = [run for run in members if run["returncode"] == 0]
        row = {"dataset": dataset, "model": model, "protocol": protocol, "seeds": [run["seed"] for run in done],
               **leaks.get(f"{dataset}/{protocol}", {})}
        for metric in METRICS:
            row[f"test_{metric}_mean"], row[f"test_{metric}_std"] = mean_std([run[f"test_{metric}"] for run in done])
        out.append(row)
    return out


HEADER = ["dataset", "model", "protocol", "seeds", "test predictions", "Recall@20", "MRR@20", "Recall@10", "MRR@10",
          "test older than training", "training after target"]


def cells(row: dict) -> List[str]:
    def metric(name: str) -> str:
        mean, std = row[f"test_{name}_mean"], row[f"test_{name}_std"]
        return fmt(mean) + ("" if std is None else f" ± {std:.4f}")
    share = lambda key: "-" if key not in row else f"{100 * row[key]:.1f}%"
    return [row["dataset"], row["model"], row["protocol"], str(len(row["seeds"])),
            f"{row.get('test_predictions', 0):,}", *(metric(m) for m in ("recall@20", "mrr@20", "recall@10", "mrr@10")),
            share("test_older_than_training"), share("training_after_target")]


def markdown_table(rows: List[dict]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    return "\n".join(lines + ["| " + " | ".join(cells(row)) + " |" for row in rows])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--data_path", default="../shared/datasets", help="folder holding the datasets")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated: " + ", ".join(DATASETS))
    parser.add_argument("--synthetic_path", default="/tmp/sessynth", help="folder holding (or to hold) sessynth/")
    parser.add_argument("--models", default="GRU4Rec",
                        help="comma-separated model names or variants: " + ", ".join(VARIANTS))
    parser.add_argument("--protocols", default=",".join(map(str, range(len(PROTOCOLS)))),
                        help="comma-separated protocol numbers: "
                        + ", ".join(f"{i} {p}" for i, p in enumerate(PROTOCOLS)))
    parser.add_argument("--seeds", default="2020", help="comma-separated seeds")
    parser.add_argument("--num_threads", type=int, default=1, help="torch threads of every run")
    parser.add_argument("--timeout", type=float, default=None, help="seconds after which a run is killed")
    parser.add_argument("--json_out", help="write every run and the table to this JSON file after each run")
    parser.add_argument("--resume", action="store_true", help="skip the runs --json_out already holds")
    parser.add_argument("--markdown", nargs="+", metavar="JSON",
                        help="run nothing: print these files' table as Markdown")
    args, rest = parser.parse_known_args(argv)
    if args.markdown:
        files = [json.loads(Path(path).read_text(encoding="utf-8")) for path in args.markdown]
        leaks = {key: value for saved in files for key, value in saved["leakage"].items()}
        print(markdown_table(summaries([run for saved in files for run in saved["runs"]], leaks)))
        return 0
    extra = parse_cli_args(rest)
    datasets = args.datasets.split(",")
    unknown = [name for name in datasets if name not in DATASETS]
    if unknown:
        parser.error(f"unknown datasets {unknown}; known: {', '.join(DATASETS)}")
    registry = models()
    names = args.models.split(",")
    if any(name not in registry and name not in VARIANTS for name in names):
        parser.error(f"unknown models in {names}; available: {', '.join(sorted(registry) + list(VARIANTS))}")
    protocols = [PROTOCOLS[int(number)] for number in args.protocols.split(",")]
    out = Path(args.json_out) if args.json_out else None
    saved = json.loads(out.read_text(encoding="utf-8")) if args.resume and out is not None and out.exists() else {}
    runs, leaks = saved.get("runs", []), saved.get("leakage", {})
    data_paths = {name: args.synthetic_path if name == "sessynth" else args.data_path for name in DATASETS}
    if "sessynth" in datasets and not (Path(args.synthetic_path) / "sessynth").is_dir():
        generate(Path(args.synthetic_path))
    for dataset in datasets:
        args.data_path = data_paths[dataset]  # run_one reads it
        for protocol in protocols:
            keys = dict(DATASETS[dataset]["keys"], **protocol_keys(protocol, DATASETS[dataset]["windows"]))
            leaks.setdefault(f"{dataset}/{protocol}", leakage(dataset, args.data_path, keys, protocol))
            for name in names:
                model, mode, variant = VARIANTS[name] if name in VARIANTS else (name, fastest_mode(registry[name]), {})
                for seed in (int(seed) for seed in args.seeds.split(",")):
                    own = dict(variant, **DATASETS[dataset]["model_keys"].get(model, {}))
                    settings = run_settings(model, mode, seed, dict(extra, dataset=dataset, **SELECTION, **keys, **own),
                                            args.num_threads)
                    if any(run["settings"] == settings for run in runs):
                        continue
                    tag = f"{dataset}-{name}-{PROTOCOLS.index(protocol)}-{seed}"
                    run = run_one(name, mode, seed, settings, args, out.with_suffix(".runs") / tag if out else None,
                                  METRICS)
                    runs.append(dict(run, dataset=dataset, protocol=protocol))
                    print(f"{tag}: {run['returncode'] if run['returncode'] != 0 else 'ok'}, best epoch "
                          f"{run['best_epoch']}, test MRR@20 {fmt(run['test_mrr@20'])}, {run['wall_seconds']:.0f} s",
                          file=sys.stderr, flush=True)
                    if out is not None:
                        write_json(str(out), {"extra": extra, "environment": environment(), "runs": runs,
                                              "leakage": leaks})
    rows = summaries(runs, leaks)
    print(format_table([HEADER] + [cells(row) for row in rows], header=True))
    return 0 if all(run["returncode"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
