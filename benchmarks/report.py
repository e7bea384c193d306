"""Issue 3's speed-and-scale table, from one invocation: ml-100k per training mode, synthetic 1M/10M.

    python benchmarks/report.py --num_threads=1                              # everything (hours)
    python benchmarks/report.py --only=ml100k-sequence,synth-1m --num_threads=1
    python benchmarks/report.py --skip_early_stopping --from_log=log/GRU4RecF/<run>.log --num_threads=1
    python benchmarks/report.py --only=synth-10m --from_json=benchmarks/out/report.json --max_batches=400

Measurements, each in its own subprocess (so that peak RSS is per measurement):
  ml100k-augment, ml100k-sequence   bench_ml100k.py --to_stopping --train_mode=<mode>: seconds per
                                    epoch (median), seconds to early stopping, seconds per full
                                    validation (median), peak RSS, test Recall/MRR/NDCG@10
  synth-1m, synth-10m               bench_scale.py: preparation seconds, seconds per epoch
                                    (sequence mode, sampled softmax), full evaluation seconds
                                    (extrapolated from --eval_users users), peak RSS; generated
                                    with make_synthetic.py into --synth_path when missing

Cells this invocation does not measure come from earlier figures (measured now, then --from_json,
then --from_log):
  --skip_early_stopping   ml-100k rows time --epochs epochs only; their early-stopping cells
                          (total seconds, test metrics) come from --from_log / --from_json
  --from_log=FILE[,FILE]  finished gru4recf run logs (log/<model>/*.log of `run.py` on ml-100k):
                          the mode is read from the log's configuration, the epoch, evaluation
                          and total seconds (training + validation time, as logged) and the test
                          metrics from its lines; peak RSS is not in a log
  --from_json=FILE        an earlier report's JSON: any measurement or cell not measured now
Unknown --key=value flags are passed to every measurement (e.g. --num_threads=1). The table is
printed and written, with every figure, to --json_out (atomically).
"""
import argparse
import ast
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from bench_common import environment, format_table, write_json

HERE = Path(__file__).resolve().parent
MEASUREMENTS = ("ml100k-augment", "ml100k-sequence", "synth-1m", "synth-10m")
METRICS = ("recall@10", "mrr@10", "ndcg@10")


def run_measurement(name: str, args: argparse.Namespace, passthrough: List[str]) -> dict:
    """Runs one measurement in a subprocess (its output shown) and returns its JSON figures."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "figures.json"
        if name.startswith("ml100k-"):
            mode = name.split("-", 1)[1]
            length = ["--to_stopping"] if not args.skip_early_stopping else [f"--epochs={args.epochs}"]
            command = [str(HERE / "bench_ml100k.py"), f"--data_path={args.ml100k_path}", "--dataset=ml-100k",
                       f"--train_mode={mode}", *length]
        else:
            preset = name.split("-", 1)[1]
            if not (Path(args.synth_path) / name / f"{name}.inter").is_file():
                subprocess.run([sys.executable, str(HERE / "make_synthetic.py"), f"--preset={preset}",
                                f"--out={args.synth_path}"], check=True)
            command = [str(HERE / "bench_scale.py"), f"--data_path={args.synth_path}", f"--dataset={name}",
                       f"--eval_users={args.eval_users}", f"--max_batches={args.max_batches}"]
        command = [sys.executable, *command, *passthrough, f"--json_out={out}"]
        print(f"\n=== {name}: {' '.join(command[1:-1])}", flush=True)
        start = time.perf_counter()
        finished = subprocess.run(command)
        if finished.returncode != 0 or not out.is_file():
            return {"error": f"exit status {finished.returncode}", "command": command[1:-1]}
        figures = json.loads(out.read_text(encoding="utf-8"))
        figures.update(command=command[1:-1], wall_seconds=time.perf_counter() - start)
        return figures


_EPOCH = re.compile(r"epoch (\d+) (training|evaluating) \[time: ([0-9.]+)s")
_TEST = re.compile(r"test result: (.*)$", re.M)
_PAIR = re.compile(r"(\S+@\d+) (\d+\.\d+)")
_MODE = re.compile(r"^train_mode = '(\w+)'", re.M)
_THREADS = re.compile(r"^num_threads = (\d+)", re.M)
_BEST = re.compile(r"best eval result in epoch (\d+)")


def _test_result(line: str) -> dict:
    """A log's test result line: 'recall@10 0.2500  mrr@10 0.1250' (or a dict, in logs before 0.2.0)."""
    if line.startswith("{"):
        return ast.literal_eval(line)
    return {name: float(value) for name, value in _PAIR.findall(line)}


def figures_from_log(path: Path) -> tuple:
    """(measurement name, figures) read from a finished run's log file."""
    text = path.read_text(encoding="utf-8")
    if "dataset = 'ml-100k'" not in text or "test result:" not in text:
        raise ValueError(f"{path} is not a finished ml-100k run's log (no test result line)")
    mode = (_MODE.search(text) or [None, "augment"])[1]
    train = [float(s) for _, kind, s in _EPOCH.findall(text) if kind == "training"]
    evals = [float(s) for _, kind, s in _EPOCH.findall(text) if kind == "evaluating"]
    test = _test_result(_TEST.findall(text)[-1])
    extra = {"threads": int(_THREADS.search(text)[1])} if _THREADS.search(text) else {}
    if _BEST.search(text):
        extra["best_epoch"] = int(_BEST.search(text)[1])
    return f"ml100k-{mode}", {**extra, "stopping_epochs": len(train), "epoch_seconds_median": statistics.median(train),
                              "eval_seconds_median": statistics.median(evals), "fit_seconds": sum(train) + sum(evals),
                              "test_result": test, "source": f"log {path}"}


STOPPING_CELLS = ("fit_seconds", "stopping_epochs", "best_epoch", "best_valid_result", "test_result")


def merge(current: Dict[str, dict], earlier: Dict[str, dict], label: str) -> None:
    """Fills `current` with the measurements of `earlier` it lacks, and a measurement run without
    early stopping with the early-stopping cells of the same measurement in `earlier`."""
    for name, figures in earlier.items():
        if name not in current or "error" in current[name]:
            current[name] = dict(figures, source=figures.get("source", label))
        elif "fit_seconds" not in current[name] and "fit_seconds" in figures:
            current[name].update({key: figures[key] for key in STOPPING_CELLS if key in figures})
            current[name]["stopping_source"] = figures.get("source", label)


def _cell(value, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def table(measurements: Dict[str, dict]) -> str:
    rows = [("measurement", "prep s", "s/epoch", "CPU s/epoch", "s to early stop", "s/full eval", "peak RSS MiB",
             "Recall@10", "MRR@10", "NDCG@10")]
    notes = []
    for name in MEASUREMENTS:
        f = measurements.get(name)
        if f is None:
            continue
        if "error" in f:
            rows.append((name, "failed: " + f["error"], *[""] * 8))
            continue
        synthetic = name.startswith("synth")
        epoch = _cell(f.get("epoch_seconds") if synthetic else f.get("epoch_seconds_median"))
        cpu = _cell(f.get("epoch_cpu_seconds") if synthetic else f.get("epoch_cpu_seconds_median"))
        if synthetic and f.get("epoch_extrapolated"):
            epoch, cpu = "~" + epoch, "~" + cpu
            notes.append(f"{name}: epoch extrapolated from {f['epoch_batches_measured']} of "
                         f"{f['batches_per_epoch']} batches")
        evaluation = _cell(f.get("eval_seconds_all_valid") if synthetic else f.get("eval_seconds_median"), "{:.2f}")
        if synthetic and f.get("eval_users", 0) < f.get("valid_users", 0):
            evaluation = "~" + evaluation
            notes.append(f"{name}: full evaluation of {f['valid_users']} users extrapolated from "
                         f"{f['eval_users']} ({f['eval_ms_per_user']:.2f} ms/user)")
        stop = "-"
        if f.get("fit_seconds") is not None:
            stop = f"{f['fit_seconds']:.0f} ({f.get('stopping_epochs', '?')} ep)"
        test = f.get("test_result") or {}
        rows.append((name, _cell(f.get("prep_seconds"), "{:.2f}"), epoch, cpu, stop, evaluation,
                     _cell(f.get("peak_rss_mib"), "{:.0f}"), *[_cell(test.get(m), "{:.4f}") for m in METRICS]))
        if f.get("source"):
            notes.append(f"{name}: figures from {f['source']}")
        if f.get("stopping_source"):
            notes.append(f"{name}: early-stopping cells (s to early stop, test metrics) from {f['stopping_source']}")
    text = format_table(rows, header=True)
    ratio, cpu_ratio = epoch_ratio(measurements), epoch_ratio(measurements, "epoch_cpu_seconds")
    if ratio is not None:
        text += (f"\n\nsynth-10m / synth-1m epoch-time ratio: {ratio:.2f} wall, "
                 f"{_cell(cpu_ratio, '{:.2f}')} CPU (interactions ratio 10)")
    threads = sorted({str(f.get("threads")) for f in measurements.values() if "threads" in f})
    text += f"\ntorch threads: {', '.join(threads) or '-'}; '~' = extrapolated; '-' = not measured"
    return text + "".join(f"\n  {note}" for note in notes)


def epoch_ratio(measurements: Dict[str, dict], key: str = "epoch_seconds") -> Optional[float]:
    small, large = measurements.get("synth-1m", {}), measurements.get("synth-10m", {})
    if small.get(key) and large.get(key):
        return large[key] / small[key]
    return None


def parse_args(argv: Optional[Sequence[str]]) -> tuple:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--only", default=",".join(MEASUREMENTS),
                        help=f"comma-separated measurements to run (default all: {','.join(MEASUREMENTS)})")
    parser.add_argument("--skip_early_stopping", action="store_true",
                        help="ml-100k rows: time --epochs epochs instead of training to early stopping")
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed with --skip_early_stopping (default 2)")
    parser.add_argument("--from_json", help="an earlier report JSON filling what is not measured now")
    parser.add_argument("--from_log", help="comma-separated finished ml-100k run logs filling early-stopping cells")
    parser.add_argument("--ml100k_path", default="../shared/datasets", help="folder holding ml-100k/")
    parser.add_argument("--synth_path", default="/tmp/synth", help="folder holding synth-1m/ and synth-10m/")
    parser.add_argument("--eval_users", type=int, default=10000, help="bench_scale --eval_users (default 10000)")
    parser.add_argument("--max_batches", type=int, default=0,
                        help="bench_scale --max_batches for the synthetic sets (default 0: whole epoch)")
    parser.add_argument("--json_out", default=str(HERE / "out" / "report.json"),
                        help="where the JSON goes (default benchmarks/out/report.json)")
    args, passthrough = parser.parse_known_args(argv)
    chosen = [name for name in args.only.split(",") if name]
    unknown = sorted(set(chosen) - set(MEASUREMENTS))
    if unknown:
        parser.error(f"--only: unknown measurement(s) {', '.join(unknown)}; known: {', '.join(MEASUREMENTS)}")
    args.only = chosen
    return args, passthrough


def main(argv: Optional[Sequence[str]] = None) -> int:
    args, passthrough = parse_args(argv)
    measurements = {name: run_measurement(name, args, passthrough) for name in args.only}
    if args.from_json:
        earlier = json.loads(Path(args.from_json).read_text(encoding="utf-8"))["measurements"]
        merge(measurements, earlier, f"json {args.from_json}")
    for path in filter(None, (args.from_log or "").split(",")):
        name, figures = figures_from_log(Path(path))
        merge(measurements, {name: figures}, f"log {path}")
    text = table(measurements)
    print("\n" + text)
    write_json(args.json_out, {"created": time.strftime("%Y-%m-%d %H:%M:%S"), "argv": list(argv or sys.argv[1:]),
                               "environment": environment(), "measurements": measurements,
                               "synth_10m_over_1m_epoch_ratio": epoch_ratio(measurements),
                               "synth_10m_over_1m_epoch_cpu_ratio": epoch_ratio(measurements, "epoch_cpu_seconds"),
                               "table": text})
    print(f"\nwrote {args.json_out}")
    return 0 if all("error" not in f for f in measurements.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
