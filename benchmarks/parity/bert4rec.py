"""BERT4Rec: RecBole's parameter names, with the item table's rows (and the output bias) moved to
our ids and RecBole's [MASK] row to ours; our side reproduces RecBole 1.2.1's prediction input
(`recbole_masking`, passed through RecBole's config so that our settings take it).

The masks are random, so the loss checks feed ours RecBole's own: each training interaction
carries the masked histories, masked positions and masked items that RecBole's `mask_itemseq`
transform drew for it, and `loss` gives our `cloze_loss` those same inputs (RecBole's rule: a
masked position 0 is its padding and not scored), so the first-batch loss and the Adam steps
compare the two models on identical masks."""
from typing import Dict

import numpy as np
import torch

from . import INTERACTIONS

RECBOLE_CONFIG = {**INTERACTIONS, "recbole_masking": True}


def _ids(net, maps: Dict[str, np.ndarray]) -> torch.Tensor:
    """RecBole id -> our id, RecBole's [MASK] (its n_items) -> ours."""
    return torch.from_numpy(np.append(maps["item"], net.mask_token))


def copy_weights(rb_model, net, maps: Dict[str, np.ndarray]) -> None:
    """RecBole's BERT4Rec weights into ours, item rows and output bias moved to our ids."""
    ours, ids = dict(net.named_parameters()), _ids(net, maps)
    with torch.no_grad():
        for name, value in rb_model.named_parameters():
            if name == "item_embedding.weight":
                ours[name][ids] = value
            elif name == "output_bias":
                ours[name][ids[:-1]] = value
            else:
                ours[name].copy_(value)


def loss(net, inter, maps: Dict[str, np.ndarray]) -> torch.Tensor:
    """Our cloze loss on the masks RecBole drew for `inter`: [B, L] masked histories, and at each
    position RecBole scores (MASK_INDEX > 0) its masked item (and BPR negative)."""
    ids = _ids(net, maps)
    masked = ids[inter["Mask_item_id_list"]]  # [B, L]
    index, scored = inter["MASK_INDEX"], inter["MASK_INDEX"] > 0  # [B, M]
    rows = torch.arange(len(index)).unsqueeze(1).expand_as(index)[scored]
    targets, negatives = torch.zeros_like(masked), torch.zeros_like(masked)
    targets[rows, index[scored]] = ids[inter["Pos_item_id"]][scored]
    negatives[rows, index[scored]] = ids[inter["Neg_item_id"]][scored]
    return net.cloze_loss(masked, targets, negatives if net.loss_type == "BPR" else None)
