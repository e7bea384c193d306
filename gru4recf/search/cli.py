"""Command line of the search: `python run_hyper.py --model=GRU4RecF --dataset=ml-100k
--config_files=a.yaml --params_file=hyper.test [--algo=...] [--key=value ...]`."""
import argparse
import difflib
import sys
from typing import NoReturn, Optional, Sequence

from ..errors import ConfigError, DistributedError, Gru4recfError
from ..openmp import prefer_passive_waiting

_RAY_FLAGS = ("address", "cpus_per_trial", "gpus_per_trial", "scheduler", "grace_period", "reduction_factor")
_FLAGS = ("model", "dataset", "config_files", "params_file", "algo", "max_evals", "early_stop", "workers",
          "output_file", "best_config_file", "tool", *_RAY_FLAGS)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, as every other user error
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="run_hyper.py", allow_abbrev=False,
                     description="Hyper-parameter search over a hyper.test file; any config key can be "
                                 "fixed with --key=value.")
    parser.add_argument("--model", "-m", default=None, help="model name (default GRU4RecF)")
    parser.add_argument("--dataset", "-d", default=None, help="dataset name (default ml-100k)")
    parser.add_argument("--config_files", default=None, help="fixed YAML config files, separated by spaces")
    parser.add_argument("--params_file", default="hyper.test", help="searched parameters (default hyper.test)")
    parser.add_argument("--algo", default="exhaustive",
                        help="exhaustive (every choice combination once), random or bayes (TPE)")
    parser.add_argument("--max_evals", type=int, default=None,
                        help="most trials (default: the whole grid for exhaustive, else 100)")
    parser.add_argument("--early_stop", type=int, default=None,
                        help="stop after this many trials without a better validation score (default: never)")
    parser.add_argument("--workers", type=int, default=1,
                        help="trials run in parallel processes, each with num_threads // workers threads")
    parser.add_argument("--output_file", default=None,
                        help="results, one JSON line per trial; an existing one is resumed "
                             "(default <results_dir>/hyper-<model>-<dataset>/trials.jsonl)")
    parser.add_argument("--best_config_file", default=None,
                        help="best settings as YAML for run.py (default <output_file stem>.best.yaml)")
    parser.add_argument("--tool", default="hyperopt",
                        help="hyperopt (trials here or in --workers processes) or ray (Ray Tune; pip install "
                             "'gru4recf[ray]')")
    ray = parser.add_argument_group("Ray Tune (--tool=ray)")
    ray.add_argument("--address", default=None,
                     help="join this Ray cluster ('auto' or host:port of 'ray start --head'); default: start Ray here")
    ray.add_argument("--cpus_per_trial", type=int, default=None, help="CPUs (and torch threads) a trial holds (default 1)")
    ray.add_argument("--gpus_per_trial", type=float, default=None, help="GPUs a trial holds, e.g. 1 or 0.5 (default 0)")
    ray.add_argument("--scheduler", default=None, help="none (default) or asha: stop poor trials early")
    ray.add_argument("--grace_period", type=int, default=None,
                     help="ASHA: epochs every trial trains before it may be stopped (default 1)")
    ray.add_argument("--reduction_factor", type=int, default=None,
                     help="ASHA: one in this many trials goes on at each rung (default 2)")
    return parser


def ray_settings(args: argparse.Namespace):
    """The Ray flags given (None when none is): they need --tool=ray."""
    given = {name: getattr(args, name) for name in _RAY_FLAGS if getattr(args, name) is not None}
    if not given and args.tool != "ray":
        return None
    if args.tool != "ray":
        raise ConfigError(f"--{next(iter(given))} is a Ray Tune option: add --tool=ray")
    from .ray_tune import RaySettings

    return RaySettings(**given)


def _check_unknown(cli_args: dict) -> None:
    """A mistyped search flag lands among the config keys: say which flag was meant."""
    from ..experiment import schema

    known = schema().known_keys()
    for key in cli_args:
        if key not in known:
            close = difflib.get_close_matches(key, _FLAGS, n=1, cutoff=0.75)
            if close:
                raise ConfigError(f"unknown option '--{key}'; did you mean '--{close[0]}'?")


def _check_single_process() -> None:
    """A search runs its trials in one process (or its own worker pool); under torchrun every
    process would run the whole search and write the same result files."""
    from ..distributed import context_from_env

    world_size = context_from_env()[2]
    if world_size > 1:
        raise DistributedError(f"hyper-parameter search does not run under torchrun (WORLD_SIZE={world_size}): "
                               "start run_hyper.py with python and use --workers for parallel trials")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs a search and prints its table; user errors print one line and exit with status 2."""
    prefer_passive_waiting()  # its worker processes inherit it
    from ..config.loader import parse_cli_args, precheck

    output_file = None
    try:
        args, rest = build_parser().parse_known_args(argv)
        output_file = args.output_file
        cli_args = parse_cli_args(rest)
        _check_unknown(cli_args)
        precheck(args.model, args.config_files.split() if args.config_files else None, cli_args)
        _check_single_process()
        from .runner import hyper_search

        result = hyper_search(args.params_file, args.model, args.dataset,
                              args.config_files.split() if args.config_files else None, None, cli_args,
                              algo=args.algo, max_evals=args.max_evals, early_stop=args.early_stop,
                              output_file=args.output_file, best_config_file=args.best_config_file,
                              workers=args.workers, tool=args.tool, ray=ray_settings(args))
    except Gru4recfError as error:
        print(f"gru4recf: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        where = f" in {output_file}" if output_file else ""
        print(f"gru4recf: interrupted; the finished trials are saved{where}: run the same command again "
              "to resume", file=sys.stderr)
        return 130
    print(result.table())
    print(f"\nresults: {result.output_file} ({len(result.trials)} trials)")
    if result.best_params is None:
        print(f"gru4recf: error: all {len(result.trials)} trials failed; the errors are in {result.output_file}",
              file=sys.stderr)
        return 1
    print(f"best parameters: {result.best_params} (trial {result.best_trial})")
    from ..evaluation.metrics import format_result

    print(f"best valid: {format_result(result.best_valid_result)}")
    print(f"test result: {format_result(result.best_test_result)}")
    print(f"best config: {result.best_config_file}  (python run.py --config_files={result.best_config_file})")
    return 0
