"""Per-model adapters of benchmarks/recbole_parity.py: how one model's RecBole run and ours are put
side by side. `--model=NAME` imports `parity/<name lower>.py` if there is one; every attribute is
optional, and what a module leaves out takes the default below, which fits a model whose
parameter names are RecBole's (a transformer built on gru4recf/models/transformer.py):

- `RECBOLE_CONFIG`: extra entries of RecBole's `config_dict` (e.g. the item feature columns to
  load); default: the interaction columns only.
- `copy_weights(rb_model, net, maps)`: RecBole's freshly initialised weights into ours; `maps`
  holds RecBole -> our id arrays under "item", "user" and the name of each of our token features.
  Default: every RecBole parameter into ours of the same name and shape, the rows of
  `item_embedding.weight` moved to our item ids; a RecBole parameter without a counterpart stops
  the script, naming it.
- `to_batch(inter, maps)`: a RecBole training interaction as our `Batch` (ids translated).
  Default: RecBole's history, length and target (and its negative, with BPR).
- `loss(net, inter, maps)`: our loss on a RecBole training interaction, for the first-batch and
  Adam-step checks (a model whose loss draws random numbers, BERT4Rec's masks, is fed RecBole's
  draws here). Default: `net.loss(to_batch(inter, maps))`.

Our settings of the model are RecBole's own values (`recbole_parity.our_settings`), so an adapter
never restates a model's defaults.
"""
import importlib
from types import SimpleNamespace
from typing import Dict

import numpy as np
import torch

from gru4recf.data.batching import Batch

INTERACTIONS = {"load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]}}


def copy_by_name(rb_model, net, maps: Dict[str, np.ndarray]) -> None:
    """Each RecBole parameter into ours of the same name and shape (item table rows moved to our ids)."""
    ours = dict(net.named_parameters())
    items = torch.from_numpy(maps["item"])
    missing = [name for name, value in rb_model.named_parameters()
               if name not in ours or ours[name].shape != value.shape]
    if missing:
        raise SystemExit(f"RecBole parameters without a counterpart of the same name and shape in ours: {missing}; "
                         "write copy_weights in benchmarks/parity/<model>.py")
    with torch.no_grad():
        for name, value in rb_model.named_parameters():
            if name == "item_embedding.weight":
                ours[name][items] = value
            else:
                ours[name].copy_(value)


def recbole_batch(inter, maps: Dict[str, np.ndarray]) -> Batch:
    """RecBole's history, length, target and (with BPR) negative, in our ids."""
    items = torch.from_numpy(maps["item"])
    negatives = items[inter["neg_item_id"]].unsqueeze(1) if "neg_item_id" in inter.interaction else None  # [B, 1]
    return Batch(items[inter["item_id_list"]], inter["item_length"], items[inter["item_id"]], negatives)


def adapter(model: str) -> SimpleNamespace:
    """The adapter of `model`: its module's attributes over the defaults."""
    try:
        module = importlib.import_module(f"{__name__}.{model.lower()}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{model.lower()}":
            raise
        module = None
    found = SimpleNamespace(RECBOLE_CONFIG=INTERACTIONS, copy_weights=copy_by_name, to_batch=recbole_batch)
    for name in vars(found):
        if module is not None and hasattr(module, name):
            setattr(found, name, getattr(module, name))
    found.loss = getattr(module, "loss", None) or (lambda net, inter, maps: net.loss(found.to_batch(inter, maps)))
    return found
