"""Model checkpoints: tensors plus a JSON document, loaded without unpickling arbitrary objects.

This module is the only place that reads or writes checkpoint files. A checkpoint (format
version 3) is a dict saved with `torch.save` and read back with `torch.load(weights_only=True)`,
which accepts nothing but tensors and plain containers, so a crafted file cannot run code:

- `format`, `version`: 'gru4recf-checkpoint', 3;
- `meta`: JSON text: model, dataset, config, epoch, best score/result, library version, `kind`
  ('best' or 'last'), the item catalogue `item_tokens` (id i is `item_tokens[i]`, 0 = padding),
  `item_features` (name, kind and vocabulary of each feature table), the dataset `fingerprint`,
  and for a 'last' checkpoint `training` (next epoch, early-stopping counters) and `best_weights`
  (where the best weights so far are: see below);
- `state_dict`: the model's weights;
- `item_features`: {feature name: table tensor} (the FeatureField values: a token_seq table is
  ragged, every item's token ids end to end) and `item_feature_offsets`: {token_seq feature name:
  offsets [n_items + 1]}, each table stored once (the model keeps its copy out of its state dict);
- `training` (a 'last' checkpoint only): the optimiser state and the random number generator
  states, for `--resume`;
- `digest`: the SHA-256 of all the above (`payload_digest`), checked on every read: torch does not
  verify the zip CRCs, so a changed byte is otherwise loaded as a changed weight. Files without
  one (gru4recf 0.1) are read unchecked, with a note in the log.

The best weights are stored once per run. A 'last' checkpoint's `best_weights` says
`{"in": "state_dict"}` when they are its own weights (the latest epoch was the best),
`{"in": "best_checkpoint", "file": name, "digest": d}` when they are those of the best checkpoint
beside it (whose digest must be d), or `{"in": "none"}` before the first validation. The best
file is overwritten only while no 'last' checkpoint refers to it (see `RunCheckpoints.save_last`).

The interaction data is never stored: `item_tokens` and the feature tables are all that
`load_model` needs. Version 2 files (token_seq tables padded to the longest cell, best weights
inside the 'last' checkpoint) load, resume and recommend as before. Version 1 files (weights and
meta only) are read by `load_checkpoint`; they lack the catalogue, so `load_model` and resuming
refuse them with a message saying so.

Writes are atomic (`atomic_write`): a failed save (full disk, no permission) raises
CheckpointError and leaves the previous file loadable and no temporary file behind.
"""
import hashlib
import json
import logging
import math
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ..atomic_write import atomic_write, remove_stale_temporaries
from ..data.features import FeatureField, ragged_from_padded
from ..errors import CheckpointError
from ..run_paths import LAST_SUFFIX

logger = logging.getLogger("gru4recf")

FORMAT = "gru4recf-checkpoint"
VERSION = 3
BEST_PLACES = ("state_dict", "best_checkpoint", "none")  # where a 'last' checkpoint's best weights are


def last_checkpoint_path(best_path: Path) -> Path:
    """Where the 'last' checkpoint of a run goes: `saved/X.pth` -> `saved/X.last.pth`."""
    best_path = Path(best_path)
    stem = best_path.name[:-4] if best_path.name.endswith(".pth") else best_path.name
    return best_path.with_name(stem + LAST_SUFFIX)


@dataclass
class Checkpoint:
    """A checkpoint as read from disk. `training` holds the resume tensors of a 'last' checkpoint
    ({'optimizer', 'rng'}, and in version 2 files 'best_state_dict'), None for a best-model
    checkpoint; `digest` is the one stored with it (None in gru4recf 0.1 files)."""

    path: Path
    version: int
    meta: dict
    state_dict: dict
    item_features: dict = field(default_factory=dict)
    training: Optional[dict] = None
    feature_offsets: dict = field(default_factory=dict)
    digest: Optional[str] = None

    @property
    def model(self) -> str:
        return str(self.meta.get("model", "?"))

    def require_catalogue(self, purpose: str) -> None:
        """Version 1 files and bare weight files lack the item catalogue that `purpose` needs."""
        if "item_tokens" not in self.meta:
            raise CheckpointError(f"checkpoint {self.path} (format version {self.version}) has no item catalogue, "
                                  f"which {purpose} needs; it was written by an older gru4recf or not by a "
                                  "training run: retrain to get a version 2 checkpoint")

    def item_tokens(self) -> List[str]:
        self.require_catalogue("load_model")
        return list(self.meta["item_tokens"])

    def feature_fields(self) -> List[FeatureField]:
        """The item feature tables as FeatureField objects (what `build_model` takes). A token_seq
        table of a version 2 file (padded [n_items, longest]) comes back ragged, as version 3
        stores it."""
        fields = []
        for spec in self.meta.get("item_features", []):
            name = spec["name"]
            if name not in self.item_features:
                raise CheckpointError(f"checkpoint {self.path} is damaged: feature table '{name}' is missing")
            vocab = None if spec.get("vocab") is None else np.array(spec["vocab"], dtype=object)
            values, offsets = self.item_features[name].numpy(), None
            if spec["kind"] == "token_seq":
                stored = self.feature_offsets.get(name)
                values, offsets = ragged_from_padded(values) if stored is None else (values, stored.numpy())
            try:
                fields.append(FeatureField(name, spec["kind"], values, vocab, offsets))
            except ValueError as error:
                raise CheckpointError(f"checkpoint {self.path} is damaged: {error}") from None
        return fields

    def best_weights(self) -> dict:
        """Where a 'last' checkpoint keeps the best weights so far: {'in': one of BEST_PLACES, ...}
        (see the module docstring); a version 2 file holds them in `training`."""
        if self.training is not None and "best_state_dict" in self.training:
            return {"in": "training"}
        place = self.meta.get("best_weights")
        needs = {"state_dict": {"digest"}, "best_checkpoint": {"file", "digest"}, "none": set()}
        if not isinstance(place, dict) or place.get("in") not in BEST_PLACES or not needs[place["in"]] <= set(place):
            raise CheckpointError(f"cannot resume from {self.path}: its training state is damaged or incomplete "
                                  "(it does not say where its best weights are)")
        return place


def save_checkpoint(path: Path, state_dict: Mapping[str, torch.Tensor], meta: Mapping,
                    item_tokens: Optional[Sequence[str]] = None, item_features: Sequence[FeatureField] = (),
                    training: Optional[Mapping[str, Any]] = None) -> str:
    """Writes weights, JSON-serialisable `meta`, the item catalogue and feature tables (and for a
    resumable checkpoint the `training` tensors) to `path`, atomically; returns its digest.

    `training` may hold tensors, numbers, strings and nested lists/dicts/tuples of them (an
    optimiser's state_dict qualifies), nothing else: it must load with weights_only=True.
    """
    payload = checkpoint_payload(state_dict, meta, item_tokens, item_features, training)
    write_payload(path, payload)
    return payload["digest"]


def checkpoint_payload(state_dict: Mapping[str, torch.Tensor], meta: Mapping,
                       item_tokens: Optional[Sequence[str]] = None, item_features: Sequence[FeatureField] = (),
                       training: Optional[Mapping[str, Any]] = None) -> dict:
    """What `save_checkpoint` writes, digest included (see the module docstring)."""
    meta = dict(meta)
    if item_tokens is not None:
        meta["item_tokens"] = [str(token) for token in item_tokens]
    meta["item_features"] = [{"name": f.name, "kind": f.kind,
                              "vocab": None if f.vocab is None else [str(v) for v in f.vocab]}
                             for f in item_features]
    payload = {"format": FORMAT, "version": VERSION, "meta": json.dumps(meta, default=str),
               "state_dict": _cpu(state_dict),
               "item_features": {f.name: torch.as_tensor(np.ascontiguousarray(f.values)) for f in item_features},
               "item_feature_offsets": {f.name: torch.as_tensor(np.ascontiguousarray(f.offsets))
                                        for f in item_features if f.offsets is not None}}
    if training is not None:
        payload["training"] = _cpu(training)
    payload["digest"] = payload_digest(payload)
    return payload


def write_payload(path: Path, payload: Mapping[str, Any]) -> None:
    """`torch.save`s a checkpoint payload to `path` atomically; a failure is a CheckpointError."""
    try:
        with atomic_write(path, "wb") as handle:
            torch.save(dict(payload), handle)
    except OSError as error:
        raise CheckpointError(f"cannot write checkpoint {path}: {error.strerror or error}; the previous file "
                              "(if any) is unchanged") from None


class RunCheckpoints:
    """The files one training run writes: the best model at `best_path` (on every improvement)
    and the 'last' checkpoint at `last_path` (after every epoch, default `<best stem>.last.pth`),
    which holds what `--resume` needs and refers to the best file for the best weights when they
    are not its own. `meta` is common to both (model, dataset, config, ...)."""

    def __init__(self, best_path: Path, meta: Mapping, item_tokens: Sequence[str],
                 item_features: Sequence[FeatureField], last_path: Optional[Path] = None) -> None:
        self.best_path = Path(best_path)
        self.last_path = Path(last_path) if last_path is not None else last_checkpoint_path(self.best_path)
        self.meta = dict(meta, best_checkpoint=self.best_path.name)
        self.item_tokens = list(item_tokens)
        self.item_features = list(item_features)
        self.best_on_disk: Optional[Tuple[int, str]] = None  # (epoch, digest) the best file holds, as this run wrote it
        self.last_names_best = False  # whether the 'last' file on disk refers to the best file for its best weights
        for path in (self.best_path, self.last_path):  # left by a killed write of this run (it is resuming)
            remove_stale_temporaries(path)

    def save_best(self, state_dict: Mapping[str, torch.Tensor], epoch: int, score: float, result: Mapping) -> None:
        """Writes the best model of `epoch` (a fitted model's only checkpoint)."""
        self._write_best(self._best_payload(state_dict, epoch, score, result), epoch)

    def _best_payload(self, state_dict: Mapping[str, torch.Tensor], epoch: int, score: float,
                      result: Mapping) -> dict:
        meta = dict(self.meta, kind="best", epoch=epoch, best_valid_score=score, best_valid_result=dict(result))
        return checkpoint_payload(state_dict, meta, self.item_tokens, self.item_features)

    def save_last(self, state_dict: Mapping[str, torch.Tensor], epoch: int, progress: Mapping,
                  training: Mapping[str, Any], best_state: Optional[Mapping[str, torch.Tensor]] = None) -> bool:
        """Writes the 'last' checkpoint of `epoch`, and the best file if `best_state` (the best
        weights so far, of epoch `progress['best_epoch']`) is not what it holds; returns whether
        the best file was written. `progress`: the JSON part of the training state (next epoch,
        counters, best score); `training`: its tensor part (optimiser state, RNG states).

        The best weights are stored once: in the 'last' file when they are its own weights, else
        by reference to the best file. The best file goes first (a full disk then keeps the best
        model of the epoch), except when the 'last' file on disk refers to it: that reference
        must hold until the new 'last' file, which holds the new best weights as its own, has
        replaced it. A kill between the two writes thus always leaves a pair that resumes exactly
        (`resume_from` rewrites a best file that is not the one the 'last' file expects)."""
        epoch_of_best = progress.get("best_epoch")
        new_best = best_state is not None and (self.best_on_disk is None or self.best_on_disk[0] != epoch_of_best)
        pending = self._best_payload(best_state, epoch_of_best, progress["best_score"],
                                     progress["best_result"]) if new_best else None
        digest = pending["digest"] if new_best else self.best_on_disk[1] if self.best_on_disk else None
        if best_state is None:
            place = {"in": "none"}
        elif _same_weights(best_state, state_dict):
            place = {"in": "state_dict", "digest": digest}
        else:
            place = {"in": "best_checkpoint", "file": self.best_path.name, "digest": digest}
        best_first = new_best and (place["in"] == "best_checkpoint" or not self.last_names_best)
        if best_first:
            self._write_best(pending, epoch_of_best)
        meta = dict(self.meta, kind="last", epoch=epoch, best_valid_score=progress.get("best_score"),
                    best_valid_result=progress.get("best_result"), training=dict(progress), best_weights=place)
        save_checkpoint(self.last_path, state_dict, meta, self.item_tokens, self.item_features, training)
        self.last_names_best = place["in"] == "best_checkpoint"
        if new_best and not best_first:
            self._write_best(pending, epoch_of_best)
        return new_best

    def _write_best(self, payload: dict, epoch: int) -> None:
        write_payload(self.best_path, payload)
        self.best_on_disk = (epoch, payload["digest"])

    def resume_from(self, checkpoint: Checkpoint) -> None:
        """Takes over the files of the run that wrote `checkpoint` (its 'last' checkpoint, checked
        by `resume.open_resume`): learns what its best file holds, and rewrites a best file that
        a kill between the two writes of an epoch left behind its 'last' checkpoint."""
        place = checkpoint.best_weights()
        self.last_names_best = place["in"] == "best_checkpoint"
        if place["in"] in ("training", "none"):  # version 2: the best file is rewritten when next needed
            return
        progress = checkpoint.meta["training"]
        if place["in"] == "best_checkpoint":  # open_resume read that file and found the digest it names
            self.best_on_disk = (progress["best_epoch"], place["digest"])
            return
        on_disk = _digest_of(self.best_path)
        if on_disk != place["digest"]:
            logger.info(f"the best checkpoint {self.best_path} is behind {checkpoint.path} (a run killed between "
                        "the two writes of an epoch): rewriting it")
            self.save_best(checkpoint.state_dict, progress["best_epoch"], progress["best_score"],
                           progress["best_result"])
        else:
            self.best_on_disk = (progress["best_epoch"], on_disk)


def _same_weights(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(a[k] is b[k] or torch.equal(a[k], b[k]) for k in a)


def _digest_of(path: Path) -> Optional[str]:
    """The digest of the checkpoint at `path`, checked; None if it is missing or unreadable."""
    try:
        return read_checkpoint(path).digest
    except CheckpointError:
        return None


def _cpu(value: Any) -> Any:
    """A copy of nested containers with every tensor detached and on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, Mapping):
        return {k: _cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu(v) for v in value)
    return value


def payload_digest(payload: Mapping[str, Any]) -> str:
    """SHA-256 of everything a checkpoint holds but its `digest` entry: names, dtypes, shapes and
    bytes of every tensor, and every other value's text. torch does not verify the zip CRCs, so a
    byte changed inside a tensor would otherwise load as a different weight."""
    digest = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"tensor {tensor.dtype} {tuple(tensor.shape)}:".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
        elif isinstance(value, Mapping):
            for key in sorted(value, key=str):
                digest.update(f"key {key!s}:".encode())
                feed(value[key])
        elif isinstance(value, (list, tuple)):
            digest.update(f"sequence {len(value)}:".encode())  # a tuple may load back as a list
            for item in value:
                feed(item)
        else:
            digest.update(f"{type(value).__name__} {value!r};".encode())

    feed({key: value for key, value in payload.items() if key != "digest"})
    return digest.hexdigest()


def _looks_like_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive (or, long ago, a pickle): anything else is not a checkpoint
    (a file too short to tell is left to torch.load, which calls it truncated)."""
    with open(path, "rb") as handle:
        start = handle.read(4)
    return len(start) < 4 or start == b"PK\x03\x04" or start[:1] == b"\x80"  # too short: truncated


def read_checkpoint(path: Path) -> Checkpoint:
    """Reads any gru4recf checkpoint; an unreadable, unsafe, foreign, too new or corrupt file is a
    CheckpointError that says which and why. A checkpoint written before checkpoints carried a
    digest (gru4recf 0.1) is read without the check, with a note in the log."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    if not _looks_like_torch_file(path):
        raise CheckpointError(f"{path} is not a checkpoint: it is not a file written by torch.save (a text file, "
                              "or another format?)")
    try:
        with warnings.catch_warnings():  # torch's note on a foreign pickle protocol: we explain below
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"checkpoint {path} holds objects other than tensors and plain data (pickled "
                              "classes or functions); gru4recf refuses to unpickle them. It was not written "
                              "by gru4recf (a RecBole checkpoint?)") from None
    except Exception as error:  # torch raises RuntimeError, EOFError, KeyError... for damaged files
        detail = str(error).strip().split(". ")[0].splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt and cannot be read ({detail})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gru4recf checkpoint (a RecBole checkpoint or another file?)")
    version = payload.get("version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"checkpoint {path} is damaged: its format version is {version!r}")
    if version > VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {version}; this gru4recf reads up to "
                              f"version {VERSION}: upgrade gru4recf")
    try:
        meta = json.loads(payload["meta"])
        state_dict = payload["state_dict"]
        features = payload.get("item_features", {})
        offsets = payload.get("item_feature_offsets", {})
        if not isinstance(meta, dict) or not all(map(_tensor_dict, (state_dict, features, offsets))):
            raise ValueError("unexpected layout")
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} is damaged: {error}") from None
    if "digest" not in payload:
        logger.info(f"checkpoint {path} carries no digest (written by gru4recf "
                    f"{meta.get('library_version', 'before 0.2')}): its contents cannot be verified")
    elif payload["digest"] != payload_digest(payload):
        raise CheckpointError(f"checkpoint {path} is corrupt: its contents changed after it was written (their "
                              "digest does not match the one stored with them); use another copy or retrain")
    return Checkpoint(path, version, meta, state_dict, features, payload.get("training"), offsets,
                      payload.get("digest"))


def _tensor_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                           for k, v in value.items())


def load_checkpoint(path: Path) -> Tuple[dict, dict]:
    """Returns (state_dict, meta) of any gru4recf checkpoint (see `read_checkpoint`)."""
    checkpoint = read_checkpoint(path)
    return checkpoint.state_dict, checkpoint.meta


def _plain(value: Any) -> Any:
    """`value` as it reads back from a checkpoint's JSON (tuples become lists, and so on)."""
    return json.loads(json.dumps(value, default=str))


def resume_mismatches(checkpoint: Checkpoint, model: str, config: Mapping, defaults: Mapping,
                      free_keys: Sequence[str] = (), fingerprint: Optional[str] = None) -> List[str]:
    """What differs between the run that wrote `checkpoint` and the run about to resume from it:
    one entry per differing key of the current `config` (`free_keys` excepted), and the dataset
    when its `fingerprint` differs. A key the checkpoint predates counts as its `defaults` value;
    keys the checkpoint holds that this run does not have (another model's) are not compared."""
    stored = dict(_plain(dict(defaults)), **checkpoint.meta.get("config", {}))
    current = _plain(dict(config))
    differences = []
    if checkpoint.model != model:
        differences.append(f"model (checkpoint {checkpoint.model!r}, now {model!r})")
    for key in sorted(current):
        if key in free_keys or key == "model":
            continue
        if not _same(stored.get(key), current.get(key)):
            differences.append(f"{key} (checkpoint {stored.get(key)!r}, now {current.get(key)!r})")
    if fingerprint is not None and checkpoint.meta.get("fingerprint") != fingerprint:
        differences.append("the dataset's contents (its interactions, items or feature tables changed)")
    return differences


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b
