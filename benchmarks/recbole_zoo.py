"""RecBole 1.2.1's own runs of the zoo's models on MovieLens-100k, for the rows beside ours.

    PYTHONPATH=. /tmp/rbvenv/bin/python benchmarks/recbole_zoo.py --data_path=../shared/datasets \\
        --models=SASRec,NARM [--seeds=2020] [--num_threads=1] [--timeout=S] [--epochs=N] --json_out=FILE [--resume]
    python benchmarks/zoo.py --markdown ours.json FILE       # both tables as one

Each run is RecBole's `run_recbole(model, 'ml-100k', ...)` with RecBole's defaults for the model,
CE without negative sampling (`train_neg_sample_args: None`, which RecBole's CE needs), in a child
process of its own working folder (RecBole writes its log, tensorboard files and checkpoint where it
runs). Two things are set so that RecBole runs at its fastest: torch's CPU threads
(`--num_threads`, default 1) and autograd's anomaly detection, which RecBole's SINE model turns on
for every model when recbole.model is imported, off again. A third lets it run on torch >= 2.6:
RecBole 1.2.1 reloads its best checkpoint (a pickle it wrote itself in the run's own temporary
folder) with torch.load's old default, which the child restores with
TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (gru4recf's own checkpoints need no such thing).
`--epochs=N` caps RecBole's `epochs` (its default 300, with early stopping after 10 epochs without
a better validation MRR@10) for a model whose run is too long to finish; a run killed after
`--timeout` seconds keeps the epochs it finished. The child records every epoch's training
seconds and loss and its validation metrics as it goes, by wrapping RecBole's
`Trainer._train_epoch` and `_valid_epoch` (nothing else changes).

Rows have zoo.py's form, with mode 'RecBole 1.2.1' (that table's mode column names the library):
test Recall@10, MRR@10 and NDCG@10 of RecBole's best epoch (its own test pass, best model
reloaded), the best epoch, the median training seconds per epoch, wall and CPU seconds and the
child's peak RSS.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import List

from bench_common import METRICS, child_row, environment, fmt, load_1min, run_child, write_json

HERE = Path(__file__).resolve()
MODE = "RecBole 1.2.1"
RECBOLE_EPOCHS = 300  # RecBole 1.2.1's default `epochs`


def child(model: str, seed: int, data_path: str, epochs_file: Path, config: dict) -> int:
    """One `run_recbole` run in this process, each epoch appended to `epochs_file` as it ends and
    the final results as its last line."""
    import torch
    import recbole.model  # noqa: F401 (its SINE import turns anomaly detection on; switched off below)
    from recbole.quick_start import run_recbole
    from recbole.trainer import Trainer
    torch.autograd.set_detect_anomaly(False)

    def append(row: dict) -> None:
        with epochs_file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")

    train_epoch, valid_epoch = Trainer._train_epoch, Trainer._valid_epoch

    def timed_train(self, train_data, epoch_idx, *args, **kwargs):
        start = time.perf_counter()
        loss = train_epoch(self, train_data, epoch_idx, *args, **kwargs)
        append({"epoch": epoch_idx, "train_seconds": round(time.perf_counter() - start, 3),
                "train_loss": float(sum(loss) if isinstance(loss, tuple) else loss)})
        return loss

    def recorded_valid(self, valid_data, *args, **kwargs):
        start = time.perf_counter()
        score, result = valid_epoch(self, valid_data, *args, **kwargs)
        append({"valid_score": float(score), "valid_seconds": round(time.perf_counter() - start, 3),
                **{f"valid_{k}": float(v) for k, v in result.items()}})
        return score, result

    Trainer._train_epoch, Trainer._valid_epoch = timed_train, recorded_valid
    result = run_recbole(model=model, dataset="ml-100k", config_dict={
        "data_path": data_path, "seed": seed, "train_neg_sample_args": None, "show_progress": False,
        "checkpoint_dir": "saved", **config})
    append({"final": {"best_valid_result": dict(result["best_valid_result"]),
                      "test_result": dict(result["test_result"])}})
    return 0


def read_epochs(epochs_file: Path, epochs_cap: int = RECBOLE_EPOCHS) -> dict:
    """The child's epochs (each training row joined with the validation row after it), the best
    epoch (the first with the highest validation score, as RecBole's early stopping keeps it) and
    the final results, from what the child wrote before it ended or was killed (stopped_early:
    it ended before its `epochs_cap`)."""
    lines = [json.loads(line) for line in epochs_file.read_text(encoding="utf-8").splitlines()] \
        if epochs_file.is_file() else []
    epochs: List[dict] = []
    final = {}
    for line in lines:
        if "final" in line:
            final = line["final"]
        elif "epoch" in line:
            epochs.append(line)
        elif epochs:
            epochs[-1].update(line)
    scored = [epoch for epoch in epochs if "valid_score" in epoch]
    best = max(scored, key=lambda epoch: epoch["valid_score"]) if scored else None  # max keeps the first of ties
    valid, test = final.get("best_valid_result", {}), final.get("test_result", {})
    return {"epochs_run": len(epochs), "best_epoch": None if best is None else best["epoch"],
            "stopped_early": bool(final) and len(epochs) < epochs_cap, "epochs": epochs,
            **{f"valid_{k}": valid.get(k) for k in METRICS}, **{f"test_{k}": test.get(k) for k in METRICS}}


def run_one(model: str, seed: int, args, config: dict) -> dict:
    """One RecBole run in a child process in a temporary working folder, as a zoo.py row."""
    work = Path(tempfile.mkdtemp(prefix="recbole_zoo_"))
    epochs_file = work / "epochs.jsonl"
    command = [sys.executable, str(HERE), "--child", f"--models={model}", f"--seeds={seed}",
               f"--data_path={Path(args.data_path).resolve()}", f"--num_threads={args.num_threads}",
               f"--epochs_file={epochs_file}", f"--config={json.dumps(config)}"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent.parent), os.environ.get("PYTHONPATH", "")]),
               TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")  # RecBole's reload of the checkpoint it wrote (docstring)
    load_start = load_1min()
    done = run_child(command, work, env, args.timeout)
    measured = read_epochs(epochs_file, config.get("epochs", RECBOLE_EPOCHS))
    shutil.rmtree(work, ignore_errors=True)
    command = f"run_recbole(model={model!r}, dataset='ml-100k', config_dict={{'seed': {seed}, " \
              f"'train_neg_sample_args': None{''.join(f', {k!r}: {v!r}' for k, v in config.items())}}})"
    settings = {"model": model, "seed": seed, "num_threads": args.num_threads, **config}
    return child_row(model, MODE, seed, done, load_start, settings, command, measured, fit_seconds=None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--data_path", default="../shared/datasets", help="folder holding ml-100k/")
    parser.add_argument("--models", required=True, help="comma-separated RecBole model names")
    parser.add_argument("--seeds", default="2020", help="comma-separated seeds")
    parser.add_argument("--num_threads", type=int, default=1, help="torch threads of every run")
    parser.add_argument("--timeout", type=float, default=None, help="seconds after which a run is killed")
    parser.add_argument("--epochs", type=int, default=None, help="cap RecBole's epochs (default: its own, 300)")
    parser.add_argument("--json_out", help="write every run to this JSON file after each run")
    parser.add_argument("--resume", action="store_true", help="skip the runs --json_out already holds")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--epochs_file", help=argparse.SUPPRESS)
    parser.add_argument("--config", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import torch
        torch.set_num_threads(args.num_threads)
        return child(args.models, int(args.seeds), args.data_path, Path(args.epochs_file), json.loads(args.config))
    config = {} if args.epochs is None else {"epochs": args.epochs}
    out = Path(args.json_out) if args.json_out else None
    runs: List[dict] = []
    if args.resume and out is not None and out.exists():
        runs = json.loads(out.read_text(encoding="utf-8"))["runs"]
    for model in args.models.split(","):
        for seed in (int(seed) for seed in args.seeds.split(",")):
            settings = {"model": model, "seed": seed, "num_threads": args.num_threads, **config}
            if any(run["settings"] == settings for run in runs):
                continue
            run = run_one(model, seed, args, config)
            runs.append(run)
            print(f"{model}-{seed}: {run['returncode'] if run['returncode'] != 0 else 'ok'}, {run['epochs_run']} "
                  f"epochs (best {run['best_epoch']}), test NDCG@10 {fmt(run['test_ndcg@10'])}, "
                  f"{fmt(run['epoch_seconds_median'], 1)} s/epoch, {run['wall_seconds']:.0f} s", file=sys.stderr,
                  flush=True)
            if out is not None:
                write_json(str(out), {"environment": environment(args.num_threads), "runs": runs})
    return 0 if all(run["returncode"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
