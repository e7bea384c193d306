"""GRU4RecF: the feature-rich parallel RNNs of Hidasi et al. (RecSys 2016).

The default `parallel` architecture is RecBole's GRU4RecF: one GRU reads the item-id embeddings,
a parallel GRU reads the items' feature embeddings, and a dense layer maps their concatenated
outputs to the embedding size (computed here as the sum of one block per subnet, which is the
same linear map). The other architectures are the paper's alternatives:

- `id`: the item-id GRU alone (GRU4Rec);
- `feature`: the feature GRU alone, still scoring items by their id embeddings;
- `concat`: one GRU over [item embedding ; feature embedding];
- `weighted`: each subnet maps its output to the embedding size with its own dense layer and the
  outputs are summed with fixed or learned weights.

Items are always scored against the item embedding table, which is therefore the output layer.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn.utils import skip_init

from ..data.features import FeatureField
from .base import SequentialRecommender
from .layers import ItemFeatureEncoder, gather_last, xavier_linear

SUBNETS = {"parallel": ("item", "feature"), "weighted": ("item", "feature"), "concat": ("joint",),
           "id": ("item",), "feature": ("feature",)}


class GRU4RecF(SequentialRecommender):
    """Item-id and feature subnets combined as `architecture` says (see the module docstring)."""

    config_keys = ("embedding_size", "hidden_size", "num_layers", "dropout_prob", "pooling_mode", "loss_type",
                   "architecture", "subnet_weights", "learn_subnet_weights")
    uses_features = True

    def __init__(self, n_items: int, item_features: Sequence[FeatureField], embedding_size: int = 64,
                 hidden_size: int = 128, num_layers: int = 1, dropout_prob: float = 0.3,
                 pooling_mode: str = "sum", loss_type: str = "CE", architecture: str = "parallel",
                 subnet_weights: Sequence[float] = (1.0, 1.0), learn_subnet_weights: bool = False) -> None:
        super().__init__(n_items, embedding_size, loss_type)
        self.architecture = architecture
        self.subnets: Tuple[str, ...] = SUBNETS[architecture]
        uses_features = architecture != "id"
        self.features = ItemFeatureEncoder(item_features, embedding_size, pooling_mode) if uses_features else None
        self.dropout = nn.Dropout(dropout_prob)
        sizes = {"item": embedding_size, "feature": self.features.output_size if uses_features else 0}
        sizes["joint"] = sizes["item"] + sizes["feature"]
        self.grus = nn.ModuleDict({name: nn.GRU(sizes[name], hidden_size, num_layers, bias=False, batch_first=True)
                                   for name in self.subnets})
        self.heads = self._heads(hidden_size, embedding_size)
        self._subnet_weights(subnet_weights, learn_subnet_weights)
        nn.init.xavier_normal_(self.item_embedding.weight)  # the GRUs keep torch's default, as in RecBole

    def _heads(self, hidden_size: int, embedding_size: int) -> nn.ModuleDict:
        """One dense layer per subnet, Xavier-normal with a zero bias (RecBole's GRU4RecF
        initialisation). For `parallel`, RecBole's single Linear(2H, E) is drawn and split into
        per-subnet blocks without bias plus one shared output bias."""
        if self.architecture != "parallel":
            self.bias = None
            return nn.ModuleDict({name: xavier_linear(hidden_size, embedding_size) for name in self.subnets})
        joint = xavier_linear(len(self.subnets) * hidden_size, embedding_size)
        heads = nn.ModuleDict({name: skip_init(nn.Linear, hidden_size, embedding_size, bias=False)
                               for name in self.subnets})  # filled from `joint`, drawing nothing
        with torch.no_grad():
            for block, head in zip(joint.weight.split(hidden_size, dim=1), heads.values()):
                head.weight.copy_(block)
        self.bias = nn.Parameter(joint.bias.detach().clone())
        return heads

    def _subnet_weights(self, values: Sequence[float], learned: bool) -> None:
        """The `weighted` architecture's per-subnet output weights: parameters when learned, else buffers."""
        for name, value in zip(self.subnets if self.architecture == "weighted" else (), values):
            tensor = torch.tensor(float(value))
            if learned:
                self.register_parameter(f"weight_{name}", nn.Parameter(tensor))
            else:
                self.register_buffer(f"weight_{name}", tensor)

    def _input(self, name: str, items: torch.Tensor) -> torch.Tensor:
        """The subnet's per-step input: [B, L] item ids -> [B, L, input size]."""
        if name == "item":
            return self.dropout(self.item_embedding(items))
        if name == "feature":
            return self.features(items)
        return torch.cat([self._input("item", items), self._input("feature", items)], dim=-1)

    def _run(self, inputs: torch.Tensor, hidden: Optional[tuple] = None) -> Tuple[List[torch.Tensor], tuple]:
        """Every subnet's GRU outputs [B, L, H] and final states."""
        hidden = hidden if hidden is not None else (None,) * len(self.subnets)
        outputs, states = [], []
        for name, state in zip(self.subnets, hidden):
            output, state = self.grus[name](self._input(name, inputs), state)
            outputs.append(output)
            states.append(state)
        return outputs, tuple(states)

    def _combine(self, outputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Subnet outputs [..., H] each -> the representation [..., E] that scores items."""
        total = 0
        for name, output in zip(self.subnets, outputs):
            part = self.heads[name](output)
            total = total + (getattr(self, f"weight_{name}") * part if self.architecture == "weighted" else part)
        return total + self.bias if self.bias is not None else total

    def encode(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs, _ = self._run(history)
        return self._combine([gather_last(output, lengths) for output in outputs])  # [B, E]

    def encode_steps(self, inputs: torch.Tensor, hidden: Optional[tuple] = None) -> tuple:
        outputs, hidden = self._run(inputs, hidden)
        return self._combine(outputs), hidden  # [B, L, E]

    def parameter_groups(self) -> Dict[str, List[nn.Parameter]]:
        """Parameters by subnet, plus `output`: the item embedding table that scores items (and
        `parallel`'s shared output bias). Training strategies freeze and train these groups."""
        groups: Dict[str, List[nn.Parameter]] = {"output": [self.item_embedding.weight]}
        if self.bias is not None:
            groups["output"].append(self.bias)
        for name in self.subnets:
            modules = [self.grus[name], self.heads[name]]
            if name in ("feature", "joint"):
                modules.append(self.features)
            params = [p for module in modules for p in module.parameters()]
            learned = getattr(self, f"weight_{name}", None)
            if isinstance(learned, nn.Parameter):
                params.append(learned)
            groups[name] = params
        return groups

    def silence(self, subnet: str) -> None:
        """Zeroes `subnet`'s output layer so that it adds nothing until trained (residual training)."""
        with torch.no_grad():
            self.heads[subnet].weight.zero_()
            if self.heads[subnet].bias is not None:
                self.heads[subnet].bias.zero_()
