"""Caser: parameters copied by name (RecBole's), the rows of both embedding tables moved to our item
and user ids; each batch carries RecBole's user ids, translated."""
from typing import Dict

import numpy as np
import torch

from gru4recf.data.batching import Batch
from parity import copy_by_name, recbole_batch


def copy_weights(rb_model, net, maps: Dict[str, np.ndarray]) -> None:
    copy_by_name(rb_model, net, maps)
    with torch.no_grad():
        net.user_embedding.weight[torch.from_numpy(maps["user"])] = rb_model.user_embedding.weight


def to_batch(inter, maps: Dict[str, np.ndarray]) -> Batch:
    batch = recbole_batch(inter, maps)
    batch.users = torch.from_numpy(maps["user"])[inter["user_id"]]
    return batch
