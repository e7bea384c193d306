"""FDSA: the 'class' item feature loaded; RecBole's feature table moved to our class ids, its
concat_layer over [item stream ; feature stream] split into our two heads and their shared bias;
every other parameter has RecBole's name."""
from typing import Dict

import numpy as np
import torch

from . import INTERACTIONS

RECBOLE_CONFIG = {"load_col": {**INTERACTIONS["load_col"], "item": ["item_id", "class"]}}


def copy_weights(rb_model, net, maps: Dict[str, np.ndarray]) -> None:
    """RecBole's FDSA weights into ours, rows moved to our item and class ids."""
    ours = dict(net.named_parameters())
    with torch.no_grad():
        for name, value in rb_model.named_parameters():
            if name == "item_embedding.weight":
                ours[name][torch.from_numpy(maps["item"])] = value
            elif name.startswith("feature_embed_layer."):
                net.features.encoders[0].weight[torch.from_numpy(maps["class"])] = value
            elif name == "concat_layer.weight":
                for block, stream in zip(value.split(net.hidden_size, dim=1), ("item", "feature")):
                    net.heads[stream].weight.copy_(block)
            elif name == "concat_layer.bias":
                net.bias.copy_(value)
            else:
                ours[name].copy_(value)
