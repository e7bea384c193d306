"""GRU4RecF: the 'class' item feature loaded; the two GRUs copied whole, RecBole's dense layer over
the concatenated GRU outputs split into our two heads."""
from typing import Dict

import numpy as np
import torch

RECBOLE_CONFIG = {"load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"], "item": ["item_id", "class"]}}


def copy_weights(rb_model, net, maps: Dict[str, np.ndarray]) -> None:
    """RecBole's GRU4RecF weights into ours, rows moved to our item and class ids."""
    with torch.no_grad():
        net.item_embedding.weight[torch.from_numpy(maps["item"])] = rb_model.item_embedding.weight
        table = rb_model.feature_embed_layer.token_seq_embedding_table["item"][0].weight
        net.features.encoders[0].weight[torch.from_numpy(maps["class"])] = table
        for ours, theirs in (("item", rb_model.item_gru_layers), ("feature", rb_model.feature_gru_layers)):
            net.grus[ours].load_state_dict(theirs.state_dict())
        for block, name in zip(rb_model.dense_layer.weight.split(net.grus["item"].hidden_size, dim=1), ("item", "feature")):
            net.heads[name].weight.copy_(block)
        net.bias.copy_(rb_model.dense_layer.bias)
