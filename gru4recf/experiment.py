"""The composition root: from a configuration to a trained (or fitted) and tested model.

The one module that knows every concern: it assembles the configuration schema from the settings
classes (runtime, data, training, evaluation, and the models of the registry), loads and splits
the data, and builds a run from them. `run_gru4recf`, the search, the benchmarks and the torchrun
worker all build their runs here.
"""
import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from . import __version__
from .atomic_write import check_writable
from .config import Config, Schema
from .config import build_config
from .data.batching import HistoryBatches
from .data.dataset import SequenceDataset, load_dataset
from .data.download import ensure_dataset
from .data.sampler import CandidateSampler, NegativeSampler
from .data.settings import DataSettings
from .data.split import Examples, last_positions, split_examples
from .data.time_split import time_split
from .distributed import SINGLE_PROCESS, DistributedContext, local_device, step_runner
from .errors import CheckpointError, ConfigError, DatasetError
from .locks import exclusive
from .evaluation.evaluator import Evaluator
from .evaluation.metrics import format_result
from .evaluation.settings import EvaluationSettings
from .logs import FILE_ONLY, log_outcome
from .models.losses import BATCH_LOSSES
from .models.registry import model_spec, models
from .models.spec import Catalogue, ModelSpec
from .run_paths import RunPaths, new_run_id, resumed_run_id, run_paths
from .runtime import RuntimeSettings, init_seed, keep_freed_memory, resolve_device, set_threads
from .training.checkpoint import Checkpoint, RunCheckpoints, last_checkpoint_path
from .training.modes import Sampling, TrainMode, train_mode
from .training.optim import SPARSE_LEARNERS, build_optimizer
from .training.results import RunResults
from .training.resume import dataset_fingerprint, open_resume, same_dataset
from .training.settings import TrainingSettings
from .training.strategies import TrainingStrategy
from .training.tensorboard import require_tensorboard
from .training.trainer import Trainer

logger = logging.getLogger("gru4recf")

GLOBAL_SETTINGS = (RuntimeSettings, DataSettings, TrainingSettings, EvaluationSettings)


def _check_model(model: str, values: dict, set_by_user: frozenset) -> list:
    return model_spec(model).check_values(values, set_by_user)


def schema() -> Schema:
    """Every key a configuration may hold: the global settings classes and every model's settings
    (a model key may not reuse a global key: one key, one meaning)."""
    global_keys = {key for settings in GLOBAL_SETTINGS for key in settings.keys()}
    found = models()
    for name, spec in found.items():
        taken = sorted(global_keys & set(spec.settings.keys()))
        if taken:
            raise ConfigError(f"model '{name}' declares {', '.join(taken)}, which is a global configuration key: "
                              "rename the model's setting")
        foreign = sorted(set(spec.defaults) - global_keys)
        if foreign:
            raise ConfigError(f"model '{name}' has defaults for {', '.join(foreign)}, which is not a global "
                              "configuration key: declare the model's own keys in its settings class")
    return Schema(GLOBAL_SETTINGS, {name: spec.settings for name, spec in found.items()}, (_check_model,),
                  {name: dict(spec.defaults) for name, spec in found.items() if spec.defaults})


def load_config(model: Optional[str] = None, dataset: Optional[str] = None,
                config_file_list: Optional[Sequence[str]] = None, config_dict: Optional[Mapping] = None,
                cli_args: Optional[Mapping] = None) -> Config:
    """The validated configuration of one run from all layers, against the library's schema (see
    `gru4recf.config.loader` for the layers)."""
    return build_config(schema(), model, dataset, config_file_list, config_dict, cli_args)


def result_free_keys() -> frozenset:
    """Keys that change where files go, how fast a run goes or how it logs, not what it computes
    (the settings say so field by field): resuming and search identity ignore them."""
    classes = GLOBAL_SETTINGS + tuple(spec.settings for spec in models().values())
    return frozenset(key for settings in classes for key, (_, info) in settings.keys().items()
                     if not info.affects_results)


def config_defaults(model: str) -> Dict[str, object]:
    """The value every key of `model`'s runs takes when no layer sets it."""
    return dict(schema().defaults(), **model_spec(model).settings.defaults())


@dataclass
class LoadedData:
    """A loaded dataset and its split into train/valid/test examples."""

    dataset: SequenceDataset
    splits: Mapping[str, Examples]


def data_settings(config: Config) -> DataSettings:
    """The run's data keys, with the item features its model reads."""
    return replace(config.section(DataSettings), selected_features=config.model_settings.item_features())


def data_key(config: Config) -> tuple:
    """The settings that determine `load_data`'s result (runs sharing it can share the data); history
    truncation is applied when batches are drawn, so MAX_ITEM_LIST_LENGTH is not one of them."""
    settings = replace(data_settings(config), max_history=0)
    return repr(settings), repr(config.eval_args["split"]), config.eval_positions


def load_data(config: Config, distributed: DistributedContext = SINGLE_PROCESS) -> LoadedData:
    """Downloads if needed, loads, filters and splits the configured dataset. In a distributed run
    one process per machine downloads, then every process loads."""
    settings = data_settings(config)
    with distributed.local_main_first():
        ensure_dataset(settings.name, settings.data_path, show_progress=config.show_progress)
    dataset = load_dataset(settings)
    logger.info(dataset.statistics())
    dataset, splits = split_data(dataset, config.eval_args["split"], config.eval_positions)
    for part in ("train", "valid", "test"):
        if len(splits[part]) == 0:
            raise DatasetError(f"dataset '{dataset.name}' has no {part} examples after the split: "
                               + _split_hint(config))
    return LoadedData(dataset, splits)


def split_data(dataset: SequenceDataset, split: Mapping, positions: str = "all") -> tuple:
    """The dataset as the split leaves it (a time split drops what it cannot evaluate) and its
    train/valid/test examples; `positions` 'last' keeps the last target of each valid/test sequence."""
    if "TS" in split:
        dataset, splits = time_split(dataset, split["TS"])
    else:
        kind = "session" if dataset.sessions else "user"
        how = "leave-one-out" if "LS" in split else "ratio split"
        logger.info(f"split: {how} within each {kind}'s sequence (RecBole's {next(iter(split))}); not time-safe: a "
                    f"test item may predate other {kind}s' training items (the time split is eval_args split TS)")
        splits = split_examples(dataset.user_offsets, split)
    if positions == "last":
        splits = dict(splits, valid=last_positions(splits["valid"]), test=last_positions(splits["test"]))
    return dataset, splits


def _split_hint(config: Config) -> str:
    split = config.eval_args["split"]
    if "TS" in split:
        return ("the time split needs sessions ending in each window with at least 2 events of items seen in "
                f"training; check eval_args split TS {split['TS']} against the data's time span")
    return ("every user needs at least 4 interactions for the leave-one-out split (or enough for the ratio "
            "split); relax user_inter_num_interval or use more data")


@dataclass
class Batches:
    """The iterators of one run: `train` (None for a fitted model), `valid` and `test`."""

    train: Optional[object]
    valid: HistoryBatches
    test: HistoryBatches


def example_users(user_offsets: np.ndarray, examples: Examples) -> np.ndarray:
    """The user id of every example (its sequence's owner)."""
    return (np.searchsorted(user_offsets, examples.starts, side="right") - 1).astype(np.int64)


def make_batches(config: Config, data: LoadedData, mode: Optional[TrainMode],
                 distributed: DistributedContext = SINGLE_PROCESS) -> Batches:
    """The training (when `mode` is given), validation and test iterators for one run's settings;
    in a distributed run, over this process's shard of every (global) batch."""
    dataset, splits, training = data.dataset, data.splits, config.section(TrainingSettings)
    needs_users = model_spec(config.model).needs_users
    users = lambda part: example_users(dataset.user_offsets, splits[part]) if needs_users else None
    shard = {"rank": distributed.rank, "world_size": distributed.world_size}
    evaluation = lambda part: HistoryBatches(dataset.items, splits[part], config.MAX_ITEM_LIST_LENGTH,
                                             config.eval_batch_size, users=users(part), **shard)
    train, training_line = None, ""
    if mode is not None:
        loss_type = getattr(config.model_settings, "loss_type", None)
        sampling = _sampling(config.seed, training, data, distributed, loss_type)
        train = mode.batches(dataset.items, splits["train"], sampling, users("train"))
        training_line = f"[Training]: train_batch_size = [{sampling.batch_size}], examples = [{len(splits['train'])}]  "
    logger.info(training_line
                + f"[Evaluation]: eval_batch_size = [{config.eval_batch_size}], valid = [{len(splits['valid'])}], "
                f"test = [{len(splits['test'])}]"
                + (f"  (batches split over {distributed.world_size} processes)" if distributed.active else ""))
    return Batches(train, evaluation("valid"), evaluation("test"))


def _sampling(seed: int, training: TrainingSettings, data: LoadedData, distributed: DistributedContext,
              loss_type: Optional[str] = None) -> Sampling:
    """How the run draws its training batches: negatives and sampled-softmax candidates (or the batch
    losses' shared negatives) from the training targets' popularity, this process's share of each
    global batch."""
    dataset, train = data.dataset, data.splits["train"]
    counts = np.bincount(dataset.items[train.targets], minlength=dataset.n_items)  # training popularity
    sampler, num_negatives, batch_size = None, 0, training.train_batch_size
    negatives = training.train_neg_sample_args
    if negatives is not None:
        sampler = NegativeSampler(dataset.n_items, negatives["distribution"], counts, negatives["alpha"])
        num_negatives = negatives["sample_num"]
        batch_size = max(batch_size // num_negatives, 1)  # RecBole counts sampled pairs in the batch
    softmax = training.sampled_softmax
    candidates = None if softmax is None else CandidateSampler(counts, softmax["num_samples"], softmax["alpha"])
    if loss_type in BATCH_LOSSES:  # the authors' popularity: every training click, each sequence's first too
        clicks = counts + np.bincount(dataset.items[np.unique(train.starts)], minlength=dataset.n_items)
        candidates = CandidateSampler.for_batch_losses(clicks, training.n_sample, training.sample_alpha)
    return Sampling(batch_size, seed, sampler, num_negatives, candidates, distributed.rank, distributed.world_size)


def run_mode(config: Config) -> Optional[TrainMode]:
    """The run's training mode, chosen once (None for a fitted model)."""
    if model_spec(config.model).fitted:
        return None
    training = config.section(TrainingSettings)
    return train_mode(training.train_mode, config.MAX_ITEM_LIST_LENGTH, training.segment_length,
                      training.warmup_length, training.chunk_length)


@dataclass
class Run:
    """Everything one run trains, evaluates and saves. `trainer` is None for a fitted model."""

    config: Config
    spec: ModelSpec
    model: nn.Module
    evaluator: Evaluator
    batches: Batches
    trainer: Optional[Trainer] = None
    fit_seconds: Optional[float] = None  # a fitted model's fitting time, once fitted


def build_model_for(config: Config, dataset: SequenceDataset) -> nn.Module:
    """The configured model over `dataset`'s catalogue, freshly initialised (or unfitted)."""
    catalogue = Catalogue(dataset.n_items, dataset.item_features, dataset.n_users, config.MAX_ITEM_LIST_LENGTH)
    model = model_spec(config.model).build(config.model_settings, catalogue)
    if hasattr(model, "loss_params"):  # the batch losses' parameters are global keys
        model.loss_params = config.section(TrainingSettings).loss_params
    return model


def build_trainer(config: Config, model: nn.Module, evaluator: Evaluator, mode: TrainMode, device: torch.device,
                  distributed: DistributedContext = SINGLE_PROCESS, show_progress: bool = False,
                  checkpoints: Optional[RunCheckpoints] = None, trainer_class: type = Trainer,
                  results: Optional[RunResults] = None,
                  on_validation: Optional[Callable[[int, float, dict], None]] = None) -> Trainer:
    """The trainer of one run's settings for `model`: its optimiser, training strategy and (in a
    distributed run) DDP wrapping, which must know whether the strategy freezes parameters."""
    training = config.section(TrainingSettings)
    strategy = TrainingStrategy(training.training_strategy, config.model_settings.subnets())
    if training.learner in SPARSE_LEARNERS:
        model.item_embedding.sparse = True  # before DDP, which reads it
        if getattr(model, "item_bias", None) is not None:
            model.item_bias.sparse = True
    runner = step_runner(model, distributed, config.seed, find_unused_parameters=strategy.freezes)
    optimizer = build_optimizer(model.parameters(), training.learner, training.learning_rate, training.weight_decay,
                                training.momentum)
    return trainer_class(model, optimizer, evaluator, training, config.valid_metric, mode, device=device,
                         show_progress=show_progress, checkpoints=checkpoints, runner=runner, strategy=strategy,
                         results=results, on_validation=on_validation)


def build_run(config: Config, data: LoadedData, device: torch.device, distributed: DistributedContext = SINGLE_PROCESS,
              show_progress: bool = False, checkpoints: Optional[RunCheckpoints] = None,
              trainer_class: type = Trainer, evaluator_class: type = Evaluator,
              batches: Optional[Batches] = None, results: Optional[RunResults] = None,
              on_validation: Optional[Callable[[int, float, dict], None]] = None) -> Run:
    """The run of `config` on `data`: batches (unless made already by `make_batches` with the run's
    mode, e.g. to time them), then (seeded) the model, its evaluator and trainer."""
    mode = run_mode(config)
    batches = batches if batches is not None else make_batches(config, data, mode, distributed)
    init_seed(config.seed, config.reproducibility)
    model = build_model_for(config, data.dataset).to(device)
    logger.info(str(model), extra=FILE_ONLY)
    logger.info(f"{type(model).__name__}: {sum(p.numel() for p in model.parameters() if p.requires_grad):,} "
                "trainable parameters")
    evaluator = evaluator_class.from_settings(config.section(EvaluationSettings), device, show_progress, distributed)
    trainer = None
    if mode is not None:
        trainer = build_trainer(config, model, evaluator, mode, device, distributed, show_progress, checkpoints,
                                trainer_class, results, on_validation)
    return Run(config, model_spec(config.model), model, evaluator, batches, trainer)


def _checkpoints(config: Config, dataset: SequenceDataset, fingerprint: str,
                 resume: Optional[Checkpoint], paths: RunPaths) -> RunCheckpoints:
    """Where this run saves: `paths.best_checkpoint`, or the files of the run being resumed."""
    meta = {"model": config.model, "dataset": config.dataset, "config": config.to_dict(),
            "library_version": __version__, "fingerprint": fingerprint}
    if resume is not None:
        best = resume.path.with_name(resume.meta.get("best_checkpoint", resume.path.name))
        return RunCheckpoints(best, meta, dataset.item_tokens, dataset.item_features, last_path=resume.path)
    return RunCheckpoints(paths.best_checkpoint, meta, dataset.item_tokens, dataset.item_features)


def _fit(run: Run, data: LoadedData, checkpoints: Optional[RunCheckpoints]) -> tuple:
    """The fit path: fit on the training examples, validate once, save as the best model."""
    start = time.time()
    run.model.fit(data.dataset, data.splits["train"])
    run.fit_seconds = round(time.time() - start, 3)
    logger.info(f"fitted {run.spec.name} in {run.fit_seconds:.2f}s")
    result = run.evaluator.evaluate(run.model, run.batches.valid)
    score = result[run.config.valid_metric.lower()]
    logger.info(f"valid result: {format_result(result, run.evaluator.decimal_place)}")
    if checkpoints is not None:
        checkpoints.save_best(run.model.state_dict(), 0, score, result)
        logger.info(f"Saving current best: {checkpoints.best_path}")
    return score, result


def chosen_settings(config: Config) -> str:
    """The keys whose values do not come from a default (the package's, the model's or the
    dataset's), with where each came from: what the console shows of a run's configuration."""
    chosen = [f"{key}={config[key]!r} ({source})" for key, source in config.sources.items()
              if not (source == "default" or source.endswith(" defaults") or source == "arguments")]
    return f"{config.model} on {config.dataset}; settings other than the defaults: " + (", ".join(chosen) or "none")


def closing_summary(run_id: str, trainer: Optional[Trainer], seconds: float, checkpoints: Optional[RunCheckpoints],
                    results: Optional[RunResults], log_file: Optional[Path]) -> str:
    """The run's last line: its best epoch, how long it took and where its files are."""
    minutes, rest = divmod(round(seconds), 60)
    took = f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"
    best = "fitted" if trainer is None else f"best epoch {trainer.best_epoch} of {trainer.next_epoch}"
    where = [f"best model {checkpoints.best_path}"] if checkpoints is not None else []
    where += [f"results {results.folder}"] if results is not None else []
    where += [f"log {log_file}"] if log_file is not None else []
    return f"run {run_id} done: {best}, {took}" + "".join(f"; {part}" for part in where)


def run_paths_of(config: Config, resume: Optional[Union[str, Path]] = None) -> RunPaths:
    """Where the files of a run of `config` go: a new run id's, or those of the run whose 'last'
    checkpoint `resume` is."""
    run_id = resumed_run_id(resume) if resume is not None else new_run_id(config.model, config.dataset)
    return run_paths(run_id, config.model, config.results_dir, config.log_dir, config.checkpoint_dir, resume)


def run_experiment(config: Config, saved: bool = True, data: Optional[LoadedData] = None,
                   resume: Optional[Union[str, Path]] = None,
                   distributed: DistributedContext = SINGLE_PROCESS, paths: Optional[RunPaths] = None,
                   log_file: Optional[Path] = None,
                   on_validation: Optional[Callable[[int, float, dict], None]] = None) -> dict:
    """Trains (or fits) and tests with a validated config; `data` from `load_data` may be passed to
    reuse a loaded dataset (e.g. across hyper-parameter trials); `resume`: the 'last' checkpoint of
    a run to continue (see `run_gru4recf`); `distributed`: this process's place in a data-parallel
    run (its process group joined by the caller); `paths`: where the run's files go (by default
    those of a new run id) and `log_file`, named in the closing summary (see `run_gru4recf`);
    `on_validation(epoch, score, result)` is called after every validation (see `Trainer`)."""
    started = time.time()
    paths = paths or run_paths_of(config, resume)
    run_id = paths.run_id
    logger.info("configuration:\n" + repr(config), extra=FILE_ONLY)
    logger.info(chosen_settings(config))
    resumed = None
    if resume is not None:
        resumed = open_resume(resume, config.model, config.to_dict(), config_defaults(config.model),
                              result_free_keys())
    for warning in config.warnings:
        logger.warning(warning)
    if saved and distributed.is_main:  # before any work: not an error after hours of training
        check_writable(paths.checkpoint_dir, paths.checkpoint_setting)
        check_writable(paths.folder, "results_dir")
        if config.log_tensorboard:
            require_tensorboard()
    threads = set_threads(config.num_threads)
    keep_freed_memory(config.keep_freed_memory)
    device = local_device(resolve_device(config.device), distributed.local_rank, distributed.world_size)
    logger.info(f"device: {device}, torch threads: {threads}"
                + (f", processes: {distributed.world_size}" if distributed.active else ""))
    init_seed(config.seed, config.reproducibility)
    if data is None:
        start = time.time()
        data = load_data(config, distributed)
        logger.info(f"data loaded in {time.time() - start:.2f}s")
    fingerprint = dataset_fingerprint(data.dataset) if saved or resumed is not None else ""
    if resumed is not None and not same_dataset(resumed, data.dataset, fingerprint):
        raise CheckpointError(f"cannot resume from {resume}: the dataset's contents differ from those it was "
                              "trained on (interactions, items or feature tables changed)")
    writes = saved and distributed.is_main
    with ExitStack() as held:
        if writes:  # one process at a time on a run's resumable checkpoint (a second --resume of it)
            own = resumed.path if resumed is not None else last_checkpoint_path(paths.best_checkpoint)
            held.enter_context(exclusive(own, "resumable checkpoint"))
        checkpoints = _checkpoints(config, data.dataset, fingerprint, resumed, paths) if writes else None
        results = None
        if writes:
            resume_epoch = resumed.meta["training"]["next_epoch"] if resumed is not None else None
            results = RunResults(paths.folder, resume_epoch, config.log_tensorboard)
            results.write_config(config.to_dict())
        show_progress = config.show_progress and distributed.is_main
        run = build_run(config, data, device, distributed, show_progress, checkpoints, results=results,
                        on_validation=on_validation)
        best_score, best_result, test_result = _train_and_test(run, data, checkpoints, resumed)
    outcome = {"best_valid_score": best_score, "valid_score_bigger": True,
               "best_valid_result": best_result, "test_result": test_result}
    if results is not None:
        best_epoch = 0 if run.trainer is None else run.trainer.best_epoch
        results.write_results({"run_id": run_id, "model": config.model, "dataset": config.dataset,
                               "best_epoch": best_epoch, "best_valid_result": dict(best_result),
                               "test_result": dict(test_result), "seconds": round(time.time() - started, 2),
                               "fit_seconds": run.fit_seconds,
                               "best_checkpoint": str(checkpoints.best_path),
                               "last_checkpoint": None if run.trainer is None else str(checkpoints.last_path)})
        outcome["results_dir"] = str(results.folder)
    log_outcome(logger, closing_summary(run_id, run.trainer, time.time() - started, checkpoints, results, log_file))
    return outcome


def _train_and_test(run: Run, data: LoadedData, checkpoints: Optional[RunCheckpoints],
                    resumed: Optional[Checkpoint]) -> tuple:
    """Fits or trains (continuing `resumed`), then tests the best model: (best score, its validation
    result, the test result)."""
    if checkpoints is not None:
        logger.info(f"checkpoints: best model {checkpoints.best_path}"
                    + ("" if run.trainer is None else f", resumable {checkpoints.last_path}"))
    if run.trainer is None:
        best_score, best_result = _fit(run, data, checkpoints)
    else:
        if resumed is not None:
            run.trainer.restore(resumed)
            logger.info(f"resumed from {resumed.path}: continuing at epoch {run.trainer.next_epoch}")
        best_score, best_result = run.trainer.fit(run.batches.train, run.batches.valid)
    test_result = run.evaluator.evaluate(run.model, run.batches.test)
    decimals = run.evaluator.decimal_place
    log_outcome(logger, f"best valid : {format_result(best_result, decimals)}")
    log_outcome(logger, f"test result: {format_result(test_result, decimals)}")
    return best_score, best_result, test_result
