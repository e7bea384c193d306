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
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn.utils import skip_init

from ..config import checks as c
from ..config.settings import setting
from ..data.features import FeatureField
from ..errors import ConfigError
from .base import SequentialRecommender, loss_type_setting
from .layers import ItemFeatureEncoder, gather_last, xavier_linear
from .spec import Catalogue, ModelSettings, ModelSpec

SUBNETS = {"parallel": ("item", "feature"), "weighted": ("item", "feature"), "concat": ("joint",),
           "id": ("item",), "feature": ("feature",)}


def _subnet_weights(key: str, value: Any) -> list:
    value = c._literal(value)
    ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    if not ok:
        raise ConfigError(f"config key '{key}' has value {value!r}; expected two numbers, the weights of "
                          "the item and the feature subnet, e.g. [1.0, 1.0]")
    return [float(v) for v in value]


_subnet_weights.allowed = "two numbers"


@dataclass(frozen=True)
class GRU4RecFSettings(ModelSettings):
    """RecBole 1.2.1's GRU4RecF.yaml keys and defaults, and the paper's architectures."""

    title = "GRU4RecF"
    subnet_hint = " (architecture 'parallel' or 'weighted' has two)"
    embedding_size: int = setting(64, c.integer(1), "Size of item and feature embeddings.")
    hidden_size: int = setting(128, c.integer(1), "Size of each GRU's hidden state.")
    num_layers: int = setting(1, c.integer(1), "Number of stacked GRU layers.")
    dropout_prob: float = setting(0.3, c.number(0.0, 1.0, max_open=True), "Dropout on the item embeddings.")
    selected_features: list = setting(
        ["class"], c.string_list(),
        "Item features fed to the feature GRU: .item columns (token, token_seq, float, float_seq) or "
        "item_vector_files names.")
    pooling_mode: str = setting("sum", c.one_of(["sum", "mean", "max"]), "How a token_seq feature's tokens are pooled.")
    loss_type: str = loss_type_setting()
    architecture: str = setting("parallel", c.one_of(tuple(SUBNETS), False),
                                "parallel (RecBole's), weighted, concat, id or feature (see docs/architectures.md).")
    subnet_weights: list = setting([1.0, 1.0], _subnet_weights,
                                   "architecture 'weighted': weights of the [item, feature] subnets' outputs "
                                   "(starting values if learned).")
    learn_subnet_weights: bool = setting(False, c.boolean, "architecture 'weighted': learn the subnet weights.")

    def item_features(self) -> List[str]:
        return [] if self.architecture == "id" else list(self.selected_features)

    def subnets(self) -> Tuple[str, ...]:
        return SUBNETS[self.architecture] if self.architecture in ("parallel", "weighted") else ()

    @classmethod
    def check_values(cls, values: Dict[str, Any], set_by_user: FrozenSet[str]) -> List[str]:
        """Warns about the subnet weights when the architecture is not 'weighted'."""
        if values["architecture"] == "weighted":
            return []
        return [f"{key} applies to GRU4RecF's architecture 'weighted' only; it is ignored here"
                for key in ("subnet_weights", "learn_subnet_weights") if key in set_by_user]


class GRU4RecF(SequentialRecommender):
    """Item-id and feature subnets combined as `architecture` says (see the module docstring)."""

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

    @classmethod
    def build(cls, settings: GRU4RecFSettings, catalogue: Catalogue) -> "GRU4RecF":
        return cls(catalogue.n_items, catalogue.item_features, settings.embedding_size, settings.hidden_size,
                   settings.num_layers, settings.dropout_prob, settings.pooling_mode, settings.loss_type,
                   settings.architecture, settings.subnet_weights, settings.learn_subnet_weights)

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

    def encode_steps(self, inputs: torch.Tensor, state: Optional[tuple] = None) -> tuple:
        outputs, state = self._run(inputs, state)
        return self._combine(outputs), state  # [B, L, E]

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


# The default recipe: the fast sequence mode with the settings chosen on ml-100k's validation split
# (three seeds, benchmarks/bench_recipe.py; docs/results.md#the-default-recipe).
# configs/recbole_exact.yaml gives RecBole's augment procedure instead.
FAST_RECIPE = {"train_mode": "sequence", "segment_length": 50, "learning_rate": 0.003, "stopping_step": 5}

MODEL = ModelSpec("GRU4RecF", GRU4RecFSettings, GRU4RecF,
                  "Hidasi et al., Parallel Recurrent Neural Network Architectures for Feature-rich Session-based "
                  "Recommendations (RecSys 2016)", train_modes=("augment", "sequence", "session_parallel"),
                  defaults=FAST_RECIPE)
