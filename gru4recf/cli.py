"""Command line.

Training: `python run.py --model=GRU4RecF --dataset=ml-100k --config_files=a.yaml --key=value`
(`--resume=saved/X.last.pth` continues a killed run).
Several processes: `torchrun --nproc_per_node=2 run.py --model=GRU4RecF ...` (docs/distributed.md).
Recommending: `python -m gru4recf recommend --checkpoint=saved/X.pth --items="1 50 172" --k=10`.
What is there: `gru4recf models` (every model, or `gru4recf models GRU4RecF` for one model's keys),
`gru4recf datasets` (the datasets that can be downloaded), `gru4recf --version`.
Pictures: `gru4recf plot results/<run id>` (learning curves), `gru4recf plot hyper.jsonl` (a search).
Session datasets: `gru4recf convert yoochoose --raw=downloads/yoochoose --data_path=dataset` (raw files to
atomic files, docs/sessions-data.md).
A user error prints one 'gru4recf: error: ...' line on stderr and exits with status 2.
"""
import argparse
import sys
from typing import List, Optional, Sequence

from . import __version__
from .errors import Gru4recfError
from .openmp import prefer_passive_waiting

PREFIX = "gru4recf: error:"


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are our one line (and status 2), not a usage block."""

    def error(self, message: str) -> None:
        print(f"{PREFIX} {self.prog}: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gru4recf", allow_abbrev=False,
        description="Train and evaluate a sequential recommender. Any config key can be given as --key=value "
                    "or --key value. 'gru4recf recommend --help' shows how to use a trained model; "
                    "'gru4recf models' lists the models, 'gru4recf datasets' the downloadable datasets and "
                    "'gru4recf convert --help' the session datasets it converts from their raw files.")
    parser.add_argument("--version", action="version", version=f"gru4recf {__version__}")
    parser.add_argument("--model", "-m", default=None, help="model name (default GRU4RecF)")
    parser.add_argument("--dataset", "-d", default=None, help="dataset name (default ml-100k)")
    parser.add_argument("--config_files", default=None, help="YAML config files, separated by spaces")
    parser.add_argument("--no-save", dest="saved", action="store_false", help="do not write checkpoints")
    parser.add_argument("--resume", default=None, metavar="PATH",
                        help="continue the run whose 'last' checkpoint is PATH (saved/<run>.last.pth); "
                             "give the same settings as that run")
    return parser


def build_recommend_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gru4recf recommend", allow_abbrev=False,
                     description="Print the top-k items (raw item ids, with scores) to follow a session, "
                                 "using a checkpoint alone (no dataset needed).")
    parser.add_argument("--checkpoint", required=True, metavar="PATH", help="a checkpoint written by training")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--items", nargs="+", metavar="ITEM",
                        help="the session's item ids, oldest first, separated by spaces")
    source.add_argument("--sessions_file", metavar="PATH",
                        help="one session per line (item ids separated by spaces or tabs)")
    parser.add_argument("--k", type=int, default=10, help="how many items to print (default 10)")
    parser.add_argument("--exclude_seen", action="store_true", help="leave out the session's own items")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs one experiment (or `recommend`); user errors print one line and exit with status 2."""
    prefer_passive_waiting()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["recommend"]:
        return recommend_main(argv[1:])
    if argv[:1] == ["models"]:
        return models_main(argv[1:])
    if argv[:1] == ["datasets"]:
        return datasets_main()
    if argv[:1] == ["plot"]:
        return plot_main(argv[1:])
    if argv[:1] == ["convert"]:
        return convert_main(argv[1:])
    from .config.loader import parse_cli_args, precheck

    args, rest = build_parser().parse_known_args(argv)
    try:
        cli_args = parse_cli_args(rest)
        files = args.config_files.split() if args.config_files else None
        precheck(args.model, files, cli_args)  # a misspelt key in a second, before torch is imported
        from .quick_start import run_gru4recf

        run_gru4recf(args.model, args.dataset, None, files, saved=args.saved, cli_args=cli_args, resume=args.resume)
    except Gru4recfError as error:
        print(f"{PREFIX} {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gru4recf: interrupted", file=sys.stderr)
        return 130
    return 0  # the run logged its results and where its files are


def models_main(names: Sequence[str]) -> int:
    """`gru4recf models [NAME ...]`: every model with its paper and capabilities, or the keys of the
    named ones (the tables of docs/models.md)."""
    from .config.settings import reference_table
    from .models.registry import models
    from .reference import capabilities

    found = models()
    unknown = [name for name in names if name not in found]
    if unknown:
        print(f"{PREFIX} unknown model {unknown[0]!r}; available: {', '.join(sorted(found))}", file=sys.stderr)
        return 2
    for name in names or sorted(found):
        spec = found[name]
        print(f"{name}: {spec.summary}. {capabilities(spec)}.")
        if names:
            print(reference_table(spec.settings) + "\n")
    return 0


def plot_main(paths: Sequence[str]) -> int:
    """`gru4recf plot PATH ...`: learning curves of run folders, trials of search results files."""
    if not paths or paths[0] in ("-h", "--help"):
        print("usage: gru4recf plot PATH [PATH ...]\n  PATH: a run's results folder (results/<run id>/: learning "
              "curves) or a search results file (run_hyper's --output_file: validation score against each "
              "parameter); writes PNG and SVG files beside it", file=sys.stderr if not paths else sys.stdout)
        return 2 if not paths else 0
    from .plots import plot

    try:
        for path in paths:
            for written in plot(path):
                print(written)
    except Gru4recfError as error:
        print(f"{PREFIX} {error}", file=sys.stderr)
        return 2
    return 0


def build_convert_parser() -> argparse.ArgumentParser:
    from .data.convert import DATASETS
    from .data.convert.sessions import PROTOCOLS

    names = "\n".join(f"  {name:<13} {about}" for name, about in DATASETS.items())
    parser = _Parser(prog="gru4recf convert", allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Convert the raw files of a published session dataset (downloaded by you) to "
                                 "atomic files <data_path>/NAME/NAME.inter and NAME.item, applying the GRU4Rec "
                                 "papers' preprocessing (docs/sessions-data.md).",
                     epilog=f"datasets:\n{names}")
    parser.add_argument("name", choices=list(DATASETS), metavar="NAME", help=f"one of {', '.join(DATASETS)}")
    parser.add_argument("--raw", required=True, metavar="FOLDER", help="the folder holding the raw files")
    parser.add_argument("--data_path", required=True, metavar="OUT", help="the folder that receives NAME/")
    parser.add_argument("--protocol", default="hidasi2023", choices=list(PROTOCOLS),
                        help="hidasi2023 (default: Hidasi & Czapp 2023) or gru4rec2016 (the original RSC15 one)")
    return parser


def convert_main(argv: Sequence[str]) -> int:
    """`gru4recf convert NAME --raw=FOLDER --data_path=OUT`: prints the folder written and its counts."""
    try:
        args = build_convert_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or an argument error already printed as one line
        return int(stop.code or 0)
    from .data.convert import convert

    try:
        folder = convert(args.name, args.raw, args.data_path, args.protocol, show_progress=True)
    except Gru4recfError as error:
        print(f"{PREFIX} {error}", file=sys.stderr)
        return 2
    with open(folder / f"{args.name}.inter", "rb") as handle:
        rows = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b"")) - 1
    print(f"wrote {folder} ({rows} interactions; protocol {args.protocol})")
    return 0


def datasets_main() -> int:
    """`gru4recf datasets`: the datasets a run downloads when their files are missing."""
    from .data.download import SOURCES

    for name, source in sorted(SOURCES.items()):
        print(f"{name}\t{source.url}")
    return 0


def _read_sessions(path: str) -> List[List[str]]:
    from .errors import DataFormatError

    try:
        with open(path, encoding="utf-8-sig") as handle:
            return [line.split() for line in handle.read().splitlines()]
    except OSError as error:
        raise DataFormatError(f"cannot read sessions file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise DataFormatError(f"sessions file {path} is not valid UTF-8 (byte {error.start})") from None


def recommend_main(argv: Sequence[str]) -> int:
    """`gru4recf recommend`: prints 'rank, item, score' rows (tab-separated; with --sessions_file a
    leading 1-based session line number); unknown item ids are reported on stderr and skipped."""
    try:
        args = build_recommend_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or an argument error already printed as one line
        return int(stop.code or 0)
    try:
        from .recommender import load_model

        sessions = [[token for item in args.items for token in item.split()]] if args.items \
            else _read_sessions(args.sessions_file)
        recommender = load_model(args.checkpoint, args.device)
        results = recommender.recommend_batch(sessions, args.k, args.exclude_seen)
    except Gru4recfError as error:
        print(f"{PREFIX} {error}", file=sys.stderr)
        return 2
    if args.items:
        result = results[0]
        if result.unknown:
            print(f"gru4recf: warning: unknown item ids ignored: {' '.join(result.unknown)}", file=sys.stderr)
        if not result.items:
            print(f"{PREFIX} none of the given item ids is in the catalogue of {args.checkpoint}", file=sys.stderr)
            return 2
        print("rank\titem\tscore")
        for rank, (item, score) in enumerate(zip(result.items, result.scores), start=1):
            print(f"{rank}\t{item}\t{score:.6f}")
        return 0
    print("session\trank\titem\tscore")
    for line, result in enumerate(results, start=1):
        if result.unknown:
            print(f"gru4recf: warning: {args.sessions_file} line {line}: unknown item ids ignored: "
                  f"{' '.join(result.unknown)}", file=sys.stderr)
        for rank, (item, score) in enumerate(zip(result.items, result.scores), start=1):
            print(f"{line}\t{rank}\t{item}\t{score:.6f}")
    return 0
