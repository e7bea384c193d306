"""One call from configuration to results: `run_gru4recf`, the library's main entry point.

This is the edge where the configuration is read; everything below receives plain arguments.
"""
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import torch

from . import __version__
from .config import Config, load_config
from .data.batching import HistoryBatches
from .data.dataset import DataSettings, SequenceDataset, load_dataset
from .data.download import ensure_dataset
from .data.sampler import CandidateSampler, NegativeSampler
from .data.sequence_batches import SequenceBatches
from .data.split import Examples, split_examples
from .distributed import SINGLE_PROCESS, DistributedContext, data_parallel, distributed_run, local_device
from .errors import CheckpointError, DatasetError
from .logs import close_logging, init_logging, mute_logging
from .models.base import SequentialRecommender
from .models.registry import build_model, feature_names
from .runtime import init_seed, resolve_device, set_threads
from .training.checkpoint import Checkpoint, RunCheckpoints
from .training.resume import dataset_fingerprint, open_resume
from .training.evaluator import Evaluator
from .training.optim import SPARSE_LEARNERS, build_optimizer
from .training.strategies import TrainingStrategy
from .training.trainer import Trainer

logger = logging.getLogger("gru4recf")


@dataclass
class PreparedData:
    """A loaded dataset, its split into examples, and the batch iterators over them."""

    dataset: SequenceDataset
    splits: Mapping[str, Examples]
    train: Union[HistoryBatches, SequenceBatches]
    valid: HistoryBatches
    test: HistoryBatches


def data_key(config: Config) -> tuple:
    """The settings that determine `load_and_split`'s result (runs sharing it can share the data)."""
    settings = DataSettings.from_config(config, feature_names(config.model, config))
    return repr(settings), repr(config.eval_args["split"])


def _check_splits(splits: Mapping[str, Examples], name: str) -> None:
    for part in ("train", "valid", "test"):
        if len(splits[part]) == 0:
            raise DatasetError(f"dataset '{name}' has no {part} examples after the split: every user needs at "
                               "least 4 interactions for the leave-one-out split (or enough for the ratio "
                               "split); relax user_inter_num_interval or use more data")


def load_and_split(config: Config, distributed: DistributedContext = SINGLE_PROCESS) -> tuple:
    """Downloads if needed, loads, filters and splits the configured dataset: (dataset, splits).
    In a distributed run one process per machine downloads, then every process loads."""
    with distributed.local_main_first():
        ensure_dataset(config.dataset, config.data_path, show_progress=config.show_progress)
    dataset = load_dataset(DataSettings.from_config(config, feature_names(config.model, config)))
    logger.info(dataset.statistics())
    splits = split_examples(dataset.user_offsets, config.eval_args["split"])
    _check_splits(splits, dataset.name)
    return dataset, splits


def make_batches(config: Config, dataset: SequenceDataset, splits: Mapping[str, Examples],
                 distributed: DistributedContext = SINGLE_PROCESS) -> PreparedData:
    """The training, validation and test iterators for one run's settings; in a distributed run,
    over this process's shard of every (global) batch."""
    sampler, num_negatives, batch_size = None, 0, config.train_batch_size
    counts = np.bincount(dataset.items[splits["train"].targets], minlength=dataset.n_items)  # training popularity
    negatives = config.train_neg_sample_args
    if negatives is not None:
        sampler = NegativeSampler(dataset.n_items, negatives["distribution"], counts, negatives["alpha"])
        num_negatives = negatives["sample_num"]
        batch_size = max(batch_size // num_negatives, 1)  # RecBole counts sampled pairs in the batch
    candidates = None
    if config.sampled_softmax is not None:
        candidates = CandidateSampler(counts, config.sampled_softmax["num_samples"], config.sampled_softmax["alpha"])
    max_len = config.MAX_ITEM_LIST_LENGTH
    shard = {"rank": distributed.rank, "world_size": distributed.world_size}
    make = lambda part, size, **kw: HistoryBatches(dataset.items, splits[part], max_len, size, **shard, **kw)
    if config.train_mode == "sequence":
        train = SequenceBatches(dataset.items, splits["train"], batch_size, config.seed, sampler, num_negatives,
                                candidates, segment_length=config.segment_length, warmup=max_len, **shard)
    else:
        train = make("train", batch_size, shuffle=True, seed=config.seed, sampler=sampler, num_negatives=num_negatives,
                     candidate_sampler=candidates)
    prepared = PreparedData(dataset, splits, train, make("valid", config.eval_batch_size),
                            make("test", config.eval_batch_size))
    logger.info(f"[Training]: train_batch_size = [{batch_size}], examples = [{len(splits['train'])}]  "
                f"[Evaluation]: eval_batch_size = [{config.eval_batch_size}], valid = [{len(splits['valid'])}], "
                f"test = [{len(splits['test'])}]"
                + (f"  (batches split over {distributed.world_size} processes)" if distributed.active else ""))
    return prepared


def prepare_data(config: Config, distributed: DistributedContext = SINGLE_PROCESS) -> PreparedData:
    """`load_and_split` then `make_batches`."""
    start = time.time()
    prepared = make_batches(config, *load_and_split(config, distributed), distributed)
    logger.info(f"data prepared in {time.time() - start:.2f}s")
    return prepared


def run_gru4recf(model: Optional[str] = None, dataset: Optional[str] = None, config_dict: Optional[Mapping] = None,
                 config_file_list: Optional[Sequence[str]] = None, saved: bool = True,
                 cli_args: Optional[Mapping] = None, resume: Optional[Union[str, Path]] = None) -> dict:
    """Trains `model` on `dataset` to early stopping and tests the best model.

    `model` and `dataset` default to the configuration's `model`/`dataset` keys (GRU4RecF and
    ml-100k unless a config file or `config_dict` says otherwise).

    Returns {'best_valid_score', 'valid_score_bigger', 'best_valid_result', 'test_result'}, the
    results keyed like RecBole ('recall@10', ...). With `saved`, the best model's checkpoint is
    written (atomically) under `checkpoint_dir` as `<model>-<dataset>-<time>.pth`, and after every
    epoch the run's 'last' checkpoint beside it (`<...>.last.pth`).

    `resume` is the path of a 'last' checkpoint: the killed run it belongs to continues where it
    stopped (with the same settings; only `epochs` and where/how fast things run may change) and
    ends with the metrics an uninterrupted run would have given. A missing, damaged or
    mismatched checkpoint is a CheckpointError; a run never silently starts from scratch.

    Started by torchrun (several processes), the run is data-parallel (see `distributed`): every
    process returns the same results, and rank 0 alone logs and writes checkpoints.
    """
    config = load_config(model, dataset, config_file_list, config_dict, cli_args)
    with distributed_run(config.ddp_backend, resolve_device(config.device)) as (distributed, _):
        if distributed.is_main:
            log_file = init_logging(config.log_dir, config.model, config.dataset, config.state)
        else:
            mute_logging()
        try:
            if distributed.is_main:
                logger.info(f"log file: {log_file}")
            return run_experiment(config, saved, resume=resume, distributed=distributed)
        finally:
            close_logging()


def _checkpoints(config: Config, dataset: SequenceDataset, fingerprint: str,
                 resume: Optional[Checkpoint]) -> RunCheckpoints:
    """Where this run saves: a new time-stamped name, or the files of the run being resumed."""
    meta = {"model": config.model, "dataset": config.dataset, "config": config.to_dict(),
            "library_version": __version__, "fingerprint": fingerprint}
    if resume is not None:
        best = resume.path.with_name(resume.meta.get("best_checkpoint", resume.path.name))
        return RunCheckpoints(best, meta, dataset.item_tokens, dataset.item_features, last_path=resume.path)
    stamp = f"{time.strftime('%b-%d-%Y_%H-%M-%S')}-{uuid.uuid4().hex[:6]}"
    best = Path(config.checkpoint_dir) / f"{config.model}-{config.dataset}-{stamp}.pth"
    return RunCheckpoints(best, meta, dataset.item_tokens, dataset.item_features)


def build_trainer(config: Config, net: SequentialRecommender, evaluator: Evaluator, device: torch.device,
                  distributed: DistributedContext = SINGLE_PROCESS, show_progress: bool = False,
                  checkpoints: Optional[RunCheckpoints] = None, trainer_class: type = Trainer) -> Trainer:
    """The trainer of one run's settings for `net`: its optimiser, training strategy and (in a
    distributed run) DDP wrapping, which must know whether the strategy freezes parameters."""
    strategy = TrainingStrategy(config.training_strategy, net.subnets)
    net.item_embedding.sparse = config.learner in SPARSE_LEARNERS  # before DDP, which reads it
    parallel = data_parallel(net, distributed, config.seed, find_unused_parameters=strategy.freezes)
    optimizer = build_optimizer(net.parameters(), config.learner, config.learning_rate, config.weight_decay)
    return trainer_class(net, optimizer, evaluator, config.epochs, config.valid_metric, config.eval_step,
                         config.stopping_step, config.clip_grad_norm, device, show_progress, checkpoints,
                         chunk_length=config.MAX_ITEM_LIST_LENGTH, parallel=parallel, strategy=strategy)


def run_experiment(config: Config, saved: bool = True, data: Optional[tuple] = None,
                   resume: Optional[Union[str, Path]] = None,
                   distributed: DistributedContext = SINGLE_PROCESS) -> dict:
    """Trains and tests with a validated config; `data` = (dataset, splits) from `load_and_split`
    may be passed to reuse a loaded dataset (e.g. across hyper-parameter trials); `resume`: the
    'last' checkpoint of a run to continue (see `run_gru4recf`); `distributed`: this process's
    place in a data-parallel run (its process group joined by the caller)."""
    logger.info("configuration:\n" + repr(config))
    resumed = open_resume(resume, config) if resume is not None else None
    for warning in config.warnings:
        logger.warning(warning)
    threads = set_threads(config.num_threads)
    device = local_device(resolve_device(config.device), distributed.local_rank, distributed.world_size)
    logger.info(f"device: {device}, torch threads: {threads}"
                + (f", processes: {distributed.world_size}" if distributed.active else ""))
    init_seed(config.seed, config.reproducibility)
    data = make_batches(config, *data, distributed) if data is not None else prepare_data(config, distributed)
    fingerprint = dataset_fingerprint(data.dataset) if saved or resumed is not None else ""
    if resumed is not None and resumed.meta.get("fingerprint") != fingerprint:
        raise CheckpointError(f"cannot resume from {resume}: the dataset's contents differ from those it was "
                              "trained on (interactions, items or feature tables changed)")
    init_seed(config.seed, config.reproducibility)
    net = build_model(config.model, config, data.dataset.n_items, data.dataset.item_features).to(device)
    logger.info(f"{net}\nTrainable parameters: {sum(p.numel() for p in net.parameters() if p.requires_grad)}")
    show_progress = config.show_progress and distributed.is_main
    evaluator = Evaluator(config.metrics, config.topk, config.metric_decimal_place, device, show_progress,
                          distributed=distributed)
    checkpoints = _checkpoints(config, data.dataset, fingerprint, resumed) if saved and distributed.is_main else None
    trainer = build_trainer(config, net, evaluator, device, distributed, show_progress, checkpoints)
    if checkpoints is not None:
        logger.info(f"checkpoints: best model {checkpoints.best_path}, resumable {checkpoints.last_path}")
    if resumed is not None:
        trainer.restore(resumed)
        logger.info(f"resumed from {resume}: continuing at epoch {trainer.next_epoch}")
    best_score, best_result = trainer.fit(data.train, data.valid)
    test_result = evaluator.evaluate(net, data.test)
    logger.info(f"best valid : {dict(best_result)}")
    logger.info(f"test result: {dict(test_result)}")
    return {"best_valid_score": best_score, "valid_score_bigger": True,
            "best_valid_result": best_result, "test_result": test_result}
