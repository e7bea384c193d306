"""Every configuration key gru4recf understands: its default, its check and one line of documentation.

This table is the reference the README points to. Defaults follow RecBole 1.2.1 (with its
sequential-model evaluation settings, since every model here is sequential).
"""
import os
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ConfigError
from . import checks as c

METRICS = ("Recall", "MRR", "NDCG", "Hit", "Precision", "MAP")
LEARNERS = ("adam", "sgd", "adagrad", "rmsprop", "sparse_adam")
DATA_PATH_ENV = "GRU4RECF_DATA_PATH"
ARCHITECTURES = ("parallel", "weighted", "concat", "id", "feature")
STRATEGIES = ("simultaneous", "alternating", "residual", "interleaving")


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    check: Callable[[str, Any], Any]
    doc: str
    group: str


def _topk(key: str, value: Any) -> list:
    value = c._literal(value)
    values = value if isinstance(value, (list, tuple)) else [value]
    return sorted({c.integer(1)(key, v) for v in values}) if values else c.integer(1)(key, None)


def _metrics(key: str, value: Any) -> list:
    names = c.string_list()(key, value)
    return [c.one_of(METRICS)(key, name) for name in names]


def _eval_args(key: str, value: Any) -> dict:
    given = c.mapping(key, value)
    unknown = set(given) - {"split", "order", "mode", "group_by"}
    if unknown:
        raise ConfigError(f"config key '{key}' has unknown entries {sorted(unknown)}; "
                          "allowed: split, order, mode, group_by")
    merged = {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"}
    merged.update({k: v for k, v in given.items() if v is not None})
    merged["split"] = _split(key, merged["split"])
    merged["order"] = c.one_of(["TO"], False)(f"{key}.order", merged["order"])
    merged["mode"] = c.one_of(["full"])(f"{key}.mode", merged["mode"])
    merged["group_by"] = c.one_of(["user"])(f"{key}.group_by", merged["group_by"])
    return merged


def _split(key: str, value: Any) -> dict:
    value = c.mapping(f"{key}.split", value)
    if list(value) == ["LS"]:
        return {"LS": c.one_of(["valid_and_test"], False)(f"{key}.split.LS", value["LS"])}
    if list(value) == ["RS"]:
        ratios = value["RS"]
        ok = isinstance(ratios, (list, tuple)) and len(ratios) == 3 and all(
            isinstance(r, (int, float)) and not isinstance(r, bool) and r >= 0 for r in ratios)
        if not ok or sum(ratios) <= 0:
            raise ConfigError(f"config key '{key}.split.RS' has value {ratios!r}; expected three "
                              "non-negative ratios for train, valid and test, e.g. [0.8, 0.1, 0.1]")
        return {"RS": [float(r) for r in ratios]}
    raise ConfigError(f"config key '{key}.split' has value {value!r}; expected "
                      "{'LS': 'valid_and_test'} or {'RS': [0.8, 0.1, 0.1]}")


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


def _subnet_weights(key: str, value: Any) -> list:
    value = c._literal(value)
    ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    if not ok:
        raise ConfigError(f"config key '{key}' has value {value!r}; expected two numbers, the weights of "
                          "the item and the feature subnet, e.g. [1.0, 1.0]")
    return [float(v) for v in value]


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


def _load_col(key: str, value: Any) -> Any:
    value = c.optional(c.mapping)(key, value)
    if value is None:
        return None
    for source, columns in value.items():
        if source not in ("inter", "item", "user"):
            raise ConfigError(f"config key '{key}' names source {source!r}; expected inter, item or user")
        value[source] = c.string_list()(f"{key}.{source}", columns)
    return value


def _val_interval(key: str, value: Any) -> Any:
    value = c.optional(c.mapping)(key, value)
    if value is None:
        return None
    return {field: c.interval(f"{key}.{field}", text) for field, text in value.items()}


def _item_vector_files(key: str, value: Any) -> Any:
    value = c.optional(c.mapping)(key, value)
    if value is None:
        return None
    for name, path in value.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"config key '{key}' has feature name {name!r}; expected non-empty names, "
                              "e.g. {'vec': 'vectors.npy'}")
        if not isinstance(path, str) or not path:
            raise ConfigError(f"config key '{key}.{name}' has value {path!r}; expected the path of a .npy file "
                              "(relative to <data_path>/<dataset>/ unless absolute), e.g. 'vectors.npy'")
    return value


def _options() -> list:
    general = [
        ("model", "GRU4RecF", c.text, "Model name, one of the registry (GRU4Rec, GRU4RecF)."),
        ("dataset", "ml-100k", c.text, "Dataset name: files are read from <data_path>/<dataset>/<dataset>.inter etc."),
        ("seed", 2020, c.integer(0), "Random seed for python, numpy and torch."),
        ("reproducibility", True, c.boolean, "Deterministic kernels (cuDNN) for repeatable results."),
        ("device", "auto", c.device, "'auto' (GPU when available), 'cpu', 'cuda' or 'cuda:N'."),
        ("num_threads", None, c.optional(c.integer(1)),
         "Torch CPU threads; None = OMP_NUM_THREADS if set, else the CPUs this process may use."),
        ("state", "INFO", c.one_of(["DEBUG", "INFO", "WARNING", "ERROR"]), "Logging level."),
        ("show_progress", True, c.boolean, "Show tqdm progress bars for training and evaluation."),
        ("log_dir", "log/", c.text, "Folder for per-run log files (log/<model>/...)."),
        ("checkpoint_dir", "saved/", c.text, "Folder for checkpoints: <run>.pth (best model) and <run>.last.pth (for --resume)."),
        ("ddp_backend", "auto", c.one_of(["auto", "gloo", "nccl"]),
         "torch.distributed backend under torchrun: 'auto' = nccl on GPUs, gloo on CPUs; unused in one process."),
    ]
    data = [
        ("data_path", os.environ.get(DATA_PATH_ENV) or "dataset/", c.text,
         f"Folder holding one sub-folder per dataset; default from ${DATA_PATH_ENV}, else 'dataset/'."),
        ("field_separator", "\t", c.single_character, "Separator between the fields of an atomic file."),
        ("seq_separator", " ", c.text, "Separator between the values of a token_seq/float_seq cell."),
        ("USER_ID_FIELD", "user_id", c.text, "Column holding the user (session) id."),
        ("ITEM_ID_FIELD", "item_id", c.text, "Column holding the item id."),
        ("TIME_FIELD", "timestamp", c.text, "Column used to order each user's interactions."),
        ("MAX_ITEM_LIST_LENGTH", 50, c.integer(1), "Histories are truncated to their last N items."),
        ("load_col", None, _load_col,
         "Columns to load per file, e.g. {'inter': [user_id, item_id, timestamp]}; None = all columns."),
        ("user_inter_num_interval", None, c.optional(c.interval),
         "Keep users whose interaction count lies in this interval, e.g. '[5,inf)'."),
        ("item_inter_num_interval", None, c.optional(c.interval),
         "Keep items whose interaction count lies in this interval, e.g. '[5,inf)'."),
        ("val_interval", None, _val_interval,
         "Keep interactions whose field values lie in intervals, e.g. {'rating': '[3,inf)'}."),
        ("rm_dup_inter", None, c.optional(c.one_of(["first", "last"])),
         "Remove repeated (user, item) interactions, keeping the 'first' or 'last' one."),
        ("item_vector_files", None, _item_vector_files,
         "Dense item features from files, {name: 'x.npy'}: a [N, d] float array, item tokens in x.tokens beside it."),
    ]
    model = [
        ("embedding_size", 64, c.integer(1), "Size of item and feature embeddings."),
        ("hidden_size", 128, c.integer(1), "Size of the GRU hidden state."),
        ("num_layers", 1, c.integer(1), "Number of stacked GRU layers."),
        ("dropout_prob", 0.3, c.number(0.0, 1.0, max_open=True), "Dropout on the item embeddings, in [0, 1)."),
        ("selected_features", ["class"], c.string_list(),
         "Item features fed to GRU4RecF's feature GRU: .item columns (token, token_seq, float, float_seq) "
         "or item_vector_files names."),
        ("pooling_mode", "sum", c.one_of(["sum", "mean", "max"]), "How a token_seq feature's tokens are pooled."),
        ("loss_type", "CE", c.one_of(["CE", "BPR"]), "CE: softmax over all items; BPR: sampled negatives."),
        ("architecture", "parallel", c.one_of(ARCHITECTURES, False),
         "GRU4RecF design: parallel (RecBole's), weighted, concat, id or feature (see 'Architectures')."),
        ("subnet_weights", [1.0, 1.0], _subnet_weights,
         "architecture 'weighted': weights of the [item, feature] subnets' outputs (starting values if learned)."),
        ("learn_subnet_weights", False, c.boolean, "architecture 'weighted': learn the subnet weights."),
    ]
    training = [
        ("epochs", 300, c.integer(1), "Maximum number of training epochs."),
        ("train_batch_size", 2048, c.integer(1), "Training examples (target positions) per batch."),
        ("learner", "adam", c.one_of(LEARNERS),
         "Optimiser: adam, sgd, adagrad, rmsprop or sparse_adam (Adam; the item table's rows move only when a "
         "batch touches them: for large catalogues with sampled_softmax or BPR)."),
        ("learning_rate", 0.001, c.number(0.0, min_open=True), "Optimiser learning rate."),
        ("weight_decay", 0.0, c.number(0.0), "L2 weight decay passed to the optimiser."),
        ("clip_grad_norm", None, _clip_grad_norm, "None, or {'max_norm': 5.0, 'norm_type': 2}."),
        ("train_neg_sample_args", {"distribution": "uniform", "sample_num": 1, "alpha": 1.0}, _neg_sampling,
         "Negatives for BPR: {'distribution': uniform|popularity, 'sample_num': N}; ignored by CE."),
        ("sampled_softmax", None, _sampled_softmax,
         "CE over shared sampled items per batch, e.g. {'num_samples': 1024, 'alpha': 0.75}; None = all items."),
        ("train_mode", "augment", c.one_of(["augment", "sequence"]),
         "augment: RecBole's one example per target; sequence: each sequence read once, loss at every step."),
        ("segment_length", 50, c.optional(c.integer(1)),
         "train_mode 'sequence': segments of N targets, shuffled across users, each after a warm-up of up to "
         "MAX_ITEM_LIST_LENGTH items; None = whole sequences, the state carried across chunks."),
        ("training_strategy", "simultaneous", c.one_of(STRATEGIES, False),
         "How parallel subnets train: simultaneous, alternating, residual or interleaving (see 'Training strategies')."),
        ("eval_step", 1, c.integer(1), "Validate every N epochs."),
        ("stopping_step", 10, c.integer(0), "Stop after this many validations without improvement."),
    ]
    evaluation = [
        ("eval_args", {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
         _eval_args, "Split ({'LS': 'valid_and_test'} or {'RS': [0.8,0.1,0.1]}), order TO, mode full."),
        ("metrics", ["Recall", "MRR", "NDCG", "Hit", "Precision"], _metrics,
         "Metrics: Recall, MRR, NDCG, Hit, Precision, MAP."),
        ("topk", [10], _topk, "Cut-offs k for every metric."),
        ("valid_metric", "MRR@10", c.text, "Metric@k used for early stopping and model selection."),
        ("eval_batch_size", 4096, c.integer(1), "Users scored per evaluation batch."),
        ("metric_decimal_place", 4, c.integer(0), "Decimal places of reported metrics."),
    ]
    groups = {"general": general, "data": data, "model": model, "training": training,
              "evaluation": evaluation}
    return [Option(name, default, check, doc, group)
            for group, rows in groups.items() for name, default, check, doc in rows]


def options() -> dict:
    """Returns every option by name (built on call so that the data_path default sees the environment)."""
    return {option.name: option for option in _options()}


def reference_table() -> str:
    """The option table as Markdown (the README's configuration reference is generated from it)."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for option in _options():
        default = "$GRU4RECF_DATA_PATH or 'dataset/'" if option.name == "data_path" else repr(option.default)
        lines.append(f"| `{option.name}` | `{default}` | {option.doc} |")
    return "\n".join(lines)
