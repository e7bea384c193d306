"""Resuming a killed run: which 'last' checkpoint may continue which run."""
import hashlib
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np

from ..data.dataset import SequenceDataset
from ..data.features import FeatureField, ragged_take
from ..errors import CheckpointError
from .checkpoint import Checkpoint, last_checkpoint_path, read_checkpoint, resume_mismatches


def dataset_fingerprint(dataset: SequenceDataset, padded_tables: bool = False) -> str:
    """A digest of what training sees of a dataset (sequences, catalogue, feature tables): a run
    resumed on changed data is refused. `padded_tables`: the digest of gru4recf 0.2, which saw
    token_seq tables as [n_items, longest] matrices (see `same_dataset`)."""
    digest = hashlib.sha256()
    for array in (dataset.user_offsets, dataset.items):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    digest.update("\0".join(map(str, dataset.item_tokens)).encode("utf-8"))
    for feature in dataset.item_features:
        if padded_tables and feature.offsets is not None:
            _feed_padded(digest, feature)
        else:
            digest.update(f"{feature.name}:{feature.kind}:{feature.values.shape}".encode("utf-8"))
            digest.update(np.ascontiguousarray(feature.values).tobytes())
        if feature.offsets is not None and not padded_tables:
            digest.update(np.ascontiguousarray(feature.offsets, dtype=np.int64).tobytes())
        if feature.vocab is not None:
            digest.update("\0".join(map(str, feature.vocab)).encode("utf-8"))
    return digest.hexdigest()


def _feed_padded(digest, feature: FeatureField, cells: int = 1 << 22) -> None:
    """Hashes a token_seq table as the right-padded [n_items, longest] int64 matrix it once was,
    a block of rows at a time (at most `cells` entries in memory)."""
    lengths = np.diff(feature.offsets)
    width = max(int(lengths.max(initial=0)), 1)
    digest.update(f"{feature.name}:{feature.kind}:{(len(lengths), width)}".encode("utf-8"))
    step = max(cells // width, 1)
    for first in range(0, len(lengths), step):
        rows = np.arange(first, min(first + step, len(lengths)))
        block = np.zeros((len(rows), width), dtype=np.int64)  # [rows, longest]
        values, offsets = ragged_take(feature.values, feature.offsets, rows)
        block[np.repeat(np.arange(len(rows)), np.diff(offsets)), np.arange(len(values)) -
              np.repeat(offsets[:-1], np.diff(offsets))] = values
        digest.update(block.tobytes())


def same_dataset(checkpoint: Checkpoint, dataset: SequenceDataset, fingerprint: str) -> bool:
    """Whether `dataset` (whose `dataset_fingerprint` is `fingerprint`) is the one `checkpoint`
    was trained on. Checkpoints of gru4recf 0.2 (format version 2) hashed token_seq tables padded;
    for them that digest is computed too, only when the other differs."""
    stored = checkpoint.meta.get("fingerprint")
    if stored == fingerprint:
        return True
    if checkpoint.version > 2 or not any(f.offsets is not None for f in dataset.item_features):
        return False
    return stored == dataset_fingerprint(dataset, padded_tables=True)


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
            and {"optimizer", "rng"} <= set(training)):
        raise CheckpointError(f"cannot resume from {path}: its training state is damaged or incomplete")
    differences = resume_mismatches(checkpoint, model, config, defaults, tuple(free_keys) + RAISABLE_KEYS)
    if differences:
        raise CheckpointError(f"cannot resume from {path}: it was written by a run with other settings: "
                              + "; ".join(differences))
    training["best_state_dict"] = best_state_dict(checkpoint)
    return checkpoint


def best_state_dict(checkpoint: Checkpoint) -> dict:
    """The best weights so far of the run that wrote the 'last' `checkpoint` ({} before its first
    validation): its own weights, those of the best checkpoint it names (which must be the file
    it was written with: same digest), or, in a version 2 file, the copy it holds."""
    place = checkpoint.best_weights()
    if place["in"] == "training":
        return checkpoint.training["best_state_dict"]
    if place["in"] == "none":
        return {}
    if place["in"] == "state_dict":
        return checkpoint.state_dict
    best_path = checkpoint.path.with_name(place["file"])
    keep = "keep the run's best checkpoint beside its .last.pth (both files are needed to resume)"
    if not best_path.is_file():
        raise CheckpointError(f"cannot resume from {checkpoint.path}: the run's best weights are in {best_path}, "
                              f"which does not exist; {keep}")
    best = read_checkpoint(best_path)  # refuses a corrupt file
    if best.digest != place["digest"]:
        raise CheckpointError(f"cannot resume from {checkpoint.path}: the run's best weights are in {best_path}, "
                              f"which is not the file written with it (another run's, or replaced since); {keep}")
    return best.state_dict
