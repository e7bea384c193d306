"""Command line: `python run.py --model=GRU4RecF --dataset=ml-100k --config_files=a.yaml --key=value`."""
import argparse
import sys
from typing import Optional, Sequence

from .errors import Gru4recfError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gru4recf", allow_abbrev=False,
        description="Train and evaluate a sequential recommender. Any config key can be given as --key=value.")
    parser.add_argument("--model", "-m", default=None, help="model name (default GRU4RecF)")
    parser.add_argument("--dataset", "-d", default=None, help="dataset name (default ml-100k)")
    parser.add_argument("--config_files", default=None, help="YAML config files, separated by spaces")
    parser.add_argument("--no-save", dest="saved", action="store_false", help="do not write a checkpoint")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs one experiment; user errors print one line and exit with status 2."""
    from .config import parse_cli_args

    args, rest = build_parser().parse_known_args(argv)
    try:
        cli_args = parse_cli_args(rest)
        from .quick_start import run_gru4recf

        result = run_gru4recf(args.model, args.dataset, None,
                              args.config_files.split() if args.config_files else None,
                              saved=args.saved, cli_args=cli_args)
    except Gru4recfError as error:
        print(f"gru4recf: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gru4recf: interrupted", file=sys.stderr)
        return 130
    print(f"best valid: {dict(result['best_valid_result'])}")
    print(f"test result: {dict(result['test_result'])}")
    return 0
