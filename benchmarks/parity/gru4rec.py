"""GRU4Rec: RecBole calls its GRU `gru_layers`, ours is `gru`; everything else has RecBole's names."""
from typing import Dict

import numpy as np
import torch


def copy_weights(rb_model, net, maps: Dict[str, np.ndarray]) -> None:
    with torch.no_grad():
        net.item_embedding.weight[torch.from_numpy(maps["item"])] = rb_model.item_embedding.weight
        net.gru.load_state_dict(rb_model.gru_layers.state_dict())
        net.dense.load_state_dict(rb_model.dense.state_dict())
