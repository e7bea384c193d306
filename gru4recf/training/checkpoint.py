"""Model checkpoints: tensors plus a JSON document, loaded without unpickling arbitrary objects.

A checkpoint is a dict {'format', 'version', 'meta' (JSON text), 'state_dict'} saved with
torch.save and read back with `torch.load(weights_only=True)`, which only accepts tensors and
plain containers. Writes are atomic: a failed save leaves the previous file intact.
"""
import json
from pathlib import Path
from typing import Mapping, Tuple

import torch

from ..atomic_write import atomic_write
from ..errors import CheckpointError

FORMAT = "gru4recf-checkpoint"
VERSION = 1


def save_checkpoint(path: Path, state_dict: Mapping[str, torch.Tensor], meta: Mapping) -> None:
    """Writes weights and JSON-serialisable metadata to `path` atomically."""
    payload = {"format": FORMAT, "version": VERSION, "meta": json.dumps(meta, default=str),
               "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}}
    with atomic_write(path, "wb") as handle:
        torch.save(payload, handle)


def load_checkpoint(path: Path) -> Tuple[dict, dict]:
    """Returns (state_dict, meta); any unreadable, unsafe or foreign file is a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated or unsafe files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"checkpoint {path} cannot be loaded safely: {first_line}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gru4recf checkpoint")
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {payload['version']}; this gru4recf "
                              f"reads up to version {VERSION}: upgrade gru4recf")
    return payload["state_dict"], json.loads(payload["meta"])
