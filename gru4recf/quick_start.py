"""One call from configuration to results: `run_gru4recf`, the library's main entry point.

This is the edge where the configuration is read (`gru4recf.experiment` builds the run).
"""
import logging
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

from .distributed import distributed_run
from .experiment import load_config, run_experiment, run_paths_of
from .logs import close_logging, init_logging, mute_logging
from .runtime import resolve_device

logger = logging.getLogger("gru4recf")


def run_gru4recf(model: Optional[str] = None, dataset: Optional[str] = None, config_dict: Optional[Mapping] = None,
                 config_file_list: Optional[Sequence[str]] = None, saved: bool = True,
                 cli_args: Optional[Mapping] = None, resume: Optional[Union[str, Path]] = None) -> dict:
    """Trains `model` on `dataset` to early stopping (or fits it) and tests the best model.

    `model` and `dataset` default to the configuration's `model`/`dataset` keys (GRU4RecF and
    ml-100k unless a config file or `config_dict` says otherwise).

    Returns {'best_valid_score', 'valid_score_bigger', 'best_valid_result', 'test_result'}, the
    results keyed like RecBole ('recall@10', ...), and with `saved` 'results_dir', the run's folder.
    A run's id (`<model>-<dataset>-<time>-<hex>`, printed at its start and end) names its folder
    `<results_dir>/<run id>/`, which holds its log `<run id>.log` and with `saved` its results
    (see `training.results`), its best model `<run id>.pth` (written atomically on every
    improvement) and its 'last' checkpoint `<run id>.last.pth` (after every epoch); `log_dir` and
    `checkpoint_dir` move the log and the checkpoints elsewhere (see `run_paths`).

    `resume` is the path of a 'last' checkpoint: the killed run it belongs to continues where it
    stopped (with the same settings; only `epochs` and where/how fast things run may change) and
    ends with the metrics an uninterrupted run would have given. A missing, damaged or
    mismatched checkpoint is a CheckpointError; a run never silently starts from scratch.

    Started by torchrun (several processes), the run is data-parallel (see `distributed`): every
    process returns the same results, and rank 0 alone logs and writes checkpoints.
    """
    config = load_config(model, dataset, config_file_list, config_dict, cli_args)
    paths = run_paths_of(config, resume)
    run_id = paths.run_id
    with distributed_run(config.ddp_backend, resolve_device(config.device)) as (distributed, _):
        if distributed.is_main:
            log_file = init_logging(paths.log_file, paths.log_setting, config.state)
        else:
            mute_logging()
        try:
            if distributed.is_main:
                logger.info(f"run {run_id}, log file: {log_file}")
            return run_experiment(config, saved, resume=resume, distributed=distributed, paths=paths,
                                  log_file=log_file if distributed.is_main else None)
        finally:
            close_logging()
