"""The training keys of a configuration: epochs, optimiser, batches, negatives, mode and strategy."""
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Optional

from ..config import checks as c
from ..config.settings import Settings, setting
from ..errors import ConfigError
from ..models.losses import BATCH_LOSSES, LossParams
from ..models.spec import TRAIN_MODES
from .optim import OPTIMISERS, SPARSE_LEARNERS
from .strategies import STRATEGIES


def _neg_sampling(key: str, value: Any) -> Any:
    value = c.optional(c.mapping)(key, value)
    if value is None:
        return None
    allowed = {"distribution", "sample_num", "alpha", "dynamic", "candidate_num"}
    unknown = set(value) - allowed
    if unknown:
        raise ConfigError(f"config key '{key}' has unknown entries {sorted(unknown)}; "
                          f"allowed: {', '.join(sorted(allowed))}")
    if value.get("dynamic", False) or value.get("candidate_num", 0):
        raise ConfigError(f"config key '{key}': dynamic negative sampling is not supported; "
                          "remove 'dynamic'/'candidate_num' or set them to False/0")
    return {
        "distribution": c.one_of(["uniform", "popularity"])(f"{key}.distribution",
                                                             value.get("distribution", "uniform")),
        "sample_num": c.integer(1)(f"{key}.sample_num", value.get("sample_num", 1)),
        "alpha": c.number(0.0)(f"{key}.alpha", value.get("alpha", 1.0)),
    }


def _sampled_softmax(key: str, value: Any) -> Any:
    value = c.optional(c.mapping)(key, value)
    if value is None:
        return None
    unknown = set(value) - {"num_samples", "alpha"}
    if unknown:
        raise ConfigError(f"config key '{key}' has unknown entries {sorted(unknown)}; allowed: num_samples, alpha")
    return {"num_samples": c.integer(1)(f"{key}.num_samples", value.get("num_samples", 1024)),
            "alpha": c.number(0.0)(f"{key}.alpha", value.get("alpha", 0.75))}


def _clip_grad_norm(key: str, value: Any) -> Any:
    value = c._literal(value)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = {"max_norm": value}
    value = c.mapping(key, value)
    if set(value) - {"max_norm", "norm_type"} or "max_norm" not in value:
        raise ConfigError(f"config key '{key}' has value {value!r}; expected None or "
                          "{'max_norm': 5.0, 'norm_type': 2}")
    return {"max_norm": c.number(0.0, min_open=True)(f"{key}.max_norm", value["max_norm"]),
            "norm_type": c.number(0.0, min_open=True)(f"{key}.norm_type", value.get("norm_type", 2))}


_neg_sampling.allowed = "None or {distribution, sample_num, alpha}"
_sampled_softmax.allowed = "None or {num_samples, alpha}"
_clip_grad_norm.allowed = "None or {max_norm, norm_type}"


@dataclass(frozen=True)
class TrainingSettings(Settings):
    """How a model trained by gradients is trained (fitted models ignore these keys)."""

    title = "Training"
    epochs: int = setting(300, c.integer(1), "Maximum number of training epochs.")
    train_batch_size: int = setting(2048, c.integer(1), "Training examples (target positions) per batch.")
    learner: str = setting(
        "adam", c.one_of(OPTIMISERS),
        "Optimiser; sparse_adam is Adam whose item-table rows move only when a batch touches them (for large "
        "catalogues with sampled_softmax or BPR); adagrad_momentum is the GRU4Rec authors' Adagrad with momentum "
        "(sparse item rows as well).")
    learning_rate: float = setting(0.001, c.number(0.0, min_open=True), "Optimiser learning rate.")
    momentum: float = setting(0.0, c.number(0.0, 1.0, max_open=True),
                              "learner adagrad_momentum: momentum of its velocity (0: plain Adagrad steps).")
    weight_decay: float = setting(0.0, c.number(0.0), "L2 weight decay passed to the optimiser.")
    clip_grad_norm: Optional[dict] = setting(None, _clip_grad_norm, "None, or {'max_norm': 5.0, 'norm_type': 2}.")
    train_neg_sample_args: Optional[dict] = setting(
        {"distribution": "uniform", "sample_num": 1, "alpha": 1.0}, _neg_sampling,
        "Negatives for BPR: {'distribution': uniform or popularity, 'sample_num': N}; ignored by CE.")
    sampled_softmax: Optional[dict] = setting(
        None, _sampled_softmax,
        "CE over shared sampled items per batch, e.g. {'num_samples': 1024, 'alpha': 0.75}; None = all items.")
    n_sample: int = setting(
        2048, c.integer(0),
        "Batch losses (loss_type BPR-max, TOP1, TOP1-max, CE-batch): shared negatives per batch beside the batch's "
        "other targets, drawn in proportion to popularity**sample_alpha.")
    sample_alpha: float = setting(0.5, c.number(0.0), "Batch losses: the exponent of the shared negatives' popularity.")
    bpreg: float = setting(1.0, c.number(0.0), "loss_type BPR-max: weight of its score regulariser.")
    elu_param: float = setting(0.5, c.number(0.0),
                               "loss_type BPR-max: the scores pass ELU(elu_param) before the loss; 0 = none.")
    logq: float = setting(0.0, c.number(0.0),
                          "loss_type CE-batch: weight of the log-Q correction (each column's score minus logq * log "
                          "of its sampling weight); 0 = none.")
    train_mode: str = setting(
        "augment", c.one_of(TRAIN_MODES),
        "augment: RecBole's one example per target; sequence: each sequence read once, loss at every step; "
        "session_parallel: GRU4Rec's session-parallel mini-batches, one step per batch.")
    segment_length: Optional[int] = setting(
        50, c.optional(c.integer(1)),
        "train_mode 'sequence': segments of N targets, shuffled across users, each after a warm-up of "
        "warmup_length items; None = whole sequences, the state carried across chunks.")
    warmup_length: Optional[int] = setting(
        None, c.optional(c.integer(0)),
        "train_mode 'sequence' with segments: items read before a segment's first target, without loss; "
        "None = MAX_ITEM_LIST_LENGTH.")
    chunk_length: Optional[int] = setting(
        None, c.optional(c.integer(1)),
        "train_mode 'sequence': steps per truncated-BPTT chunk (the state crosses chunk edges, gradients do "
        "not); None = MAX_ITEM_LIST_LENGTH.")
    training_strategy: str = setting(
        "simultaneous", c.one_of(STRATEGIES, False),
        "How parallel subnets train: simultaneous, alternating, residual or interleaving (see docs/architectures.md).")
    eval_step: int = setting(1, c.integer(1), "Validate every N epochs.")
    stopping_step: int = setting(10, c.integer(0), "Stop after this many validations without improvement.")

    @property
    def loss_params(self) -> LossParams:
        """The batch losses' parameters, which the model's loss reads."""
        return LossParams(self.bpreg, self.elu_param, self.logq)

    @classmethod
    def check_values(cls, values: Dict[str, Any], set_by_user: FrozenSet[str]) -> List[str]:
        """Learner against gradient clipping, and the model's `loss_type` (when it has one) against
        the negatives and sampled softmax; CE and the batch losses drop `train_neg_sample_args`."""
        if values["learner"] in SPARSE_LEARNERS and values["clip_grad_norm"] is not None:
            raise ConfigError(f"clip_grad_norm cannot be combined with learner '{values['learner']}' (the item "
                              "table's gradients are sparse); set clip_grad_norm to None or choose learner 'adam'")
        loss = values.get("loss_type")
        warnings = []
        if "momentum" in set_by_user and values["learner"] != "adagrad_momentum":
            warnings.append(f"momentum applies to learner 'adagrad_momentum'; learner '{values['learner']}' "
                            "ignores it")
        if loss in BATCH_LOSSES:
            return warnings + cls._check_batch_loss(loss, values, set_by_user)
        batch_keys = sorted(set_by_user & {"n_sample", "sample_alpha", "bpreg", "elu_param", "logq"})
        if loss is not None and batch_keys:
            warnings.append(f"{', '.join(batch_keys)} apply to the batch losses ({', '.join(BATCH_LOSSES)}); "
                            f"loss_type '{loss}' ignores them")
        if loss == "CE" and values["train_neg_sample_args"] is not None:
            if "train_neg_sample_args" in set_by_user:
                warnings.append("loss_type 'CE' scores every item, so train_neg_sample_args "
                                f"{values['train_neg_sample_args']} is ignored (RecBole would stop here)")
            values["train_neg_sample_args"] = None
        if loss == "BPR" and values["sampled_softmax"] is not None:
            raise ConfigError("sampled_softmax applies to loss_type 'CE'; BPR uses train_neg_sample_args")
        if loss == "BPR" and values["train_neg_sample_args"] is None:
            raise ConfigError("loss_type 'BPR' needs negatives: set train_neg_sample_args, e.g. "
                              "{'distribution': 'uniform', 'sample_num': 1}")
        return warnings

    @classmethod
    def _check_batch_loss(cls, loss: str, values: Dict[str, Any], set_by_user: FrozenSet[str]) -> List[str]:
        """A batch loss draws its own shared negatives (n_sample): sampled_softmax is an error, and
        train_neg_sample_args is dropped (with a warning when the user set it)."""
        if values["sampled_softmax"] is not None:
            raise ConfigError(f"sampled_softmax applies to loss_type 'CE'; loss_type '{loss}' scores the batch's "
                              "other targets and n_sample shared negatives: set sampled_softmax to None and use "
                              "n_sample / sample_alpha")
        warnings = []
        if values["train_neg_sample_args"] is not None and "train_neg_sample_args" in set_by_user:
            warnings.append(f"loss_type '{loss}' draws its negatives by n_sample and sample_alpha, so "
                            f"train_neg_sample_args {values['train_neg_sample_args']} is ignored")
        values["train_neg_sample_args"] = None
        if values["n_sample"] == 0 and values["train_batch_size"] < 2:
            raise ConfigError(f"loss_type '{loss}' with n_sample 0 scores each target against the batch's other "
                              "targets, but train_batch_size is 1; raise train_batch_size or n_sample")
        return warnings
