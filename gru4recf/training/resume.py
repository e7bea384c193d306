"""Resuming a killed run: which 'last' checkpoint may continue which run."""
import hashlib
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np

from ..data.dataset import SequenceDataset
from ..errors import CheckpointError
from .checkpoint import Checkpoint, last_checkpoint_path, read_checkpoint, resume_mismatches


def dataset_fingerprint(dataset: SequenceDataset) -> str:
    """A digest of what training sees of a dataset (sequences, catalogue, feature tables): a run
    resumed on changed data is refused."""
    digest = hashlib.sha256()
    for array in (dataset.user_offsets, dataset.items):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    digest.update("\0".join(map(str, dataset.item_tokens)).encode("utf-8"))
    for feature in dataset.item_features:
        digest.update(f"{feature.name}:{feature.kind}:{feature.values.shape}".encode("utf-8"))
        digest.update(np.ascontiguousarray(feature.values).tobytes())
        if feature.vocab is not None:
            digest.update("\0".join(map(str, feature.vocab)).encode("utf-8"))
    return digest.hexdigest()


RESUME_PROGRESS = ("next_epoch", "stale", "stopped", "best_score", "best_epoch", "best_result")
RAISABLE_KEYS = ("epochs",)  # may change on resume although they change results: raise epochs to train further


def open_resume(path: Union[str, Path], model: str, config: Mapping, defaults: Mapping,
                free_keys: Sequence[str]) -> Checkpoint:
    """Reads the 'last' checkpoint to resume from and checks it belongs to a run of `model` with
    `config` (keys in `free_keys`, which do not change results, and RAISABLE_KEYS may differ; a key
    the checkpoint predates counts as its value in `defaults`)."""
    checkpoint = read_checkpoint(path)
    checkpoint.require_catalogue("resuming")
    if checkpoint.training is None or "training" not in checkpoint.meta:
        raise CheckpointError(f"cannot resume from {path}: it is a best-model checkpoint without training state; "
                              f"resume from the run's '.last.pth' checkpoint (e.g. {last_checkpoint_path(path).name})")
    progress, training = checkpoint.meta["training"], checkpoint.training
    if not (isinstance(progress, dict) and set(RESUME_PROGRESS) <= set(progress) and isinstance(training, dict)
            and {"optimizer", "best_state_dict", "rng"} <= set(training)):
        raise CheckpointError(f"cannot resume from {path}: its training state is damaged or incomplete")
    differences = resume_mismatches(checkpoint, model, config, defaults, tuple(free_keys) + RAISABLE_KEYS)
    if differences:
        raise CheckpointError(f"cannot resume from {path}: it was written by a run with other settings: "
                              + "; ".join(differences))
    return checkpoint
