"""Faithfulness to RecBole 1.2.1, checked against RecBole itself: data, model, training steps, metrics.

`--model=NAME` (default GRU4RecF) compares one model. To add a model, write nothing here: give it
RecBole's parameter names and the defaults fit (weights copied by name), or add an adapter module
`benchmarks/parity/<name lower>.py` with what differs (RecBole's feature columns to load, how its
weights map onto ours, how a RecBole batch becomes ours); see benchmarks/parity/__init__.py. Our
settings of the model are taken from RecBole's own configuration of it.

RecBole is not a dependency of gru4recf; run this in a separate environment that has both
(RecBole 1.2.1 needs numpy<2 and pandas<2.2; torch 2.13 needs setuptools>=77, which RecBole
1.2.1 imports without trouble, so no setuptools pin):

    python -m venv /tmp/rbvenv && /tmp/rbvenv/bin/pip install torch==2.13.0 recbole==1.2.1 \
        "numpy<2" "pandas==2.0.3"
    PYTHONPATH=. /tmp/rbvenv/bin/python benchmarks/recbole_parity.py --data_path=../shared/datasets [--model=SASRec]

Both libraries load ml-100k with the model's RecBole defaults (`--loss_type=BPR` for BPR with one
uniform negative). The script then checks, and prints:
1. data: the same statistics, item features, and the same training, validation and test examples
   (user, target, history) in RecBole's augmented form, compared by token, not by id. RecBole
   orders each user's items by the timestamp after `normalize_all` has mapped it to [0, 1] and
   stored it as float32: on ml-100k's 7-month span that rounds to ~1.1 s near the end, so
   interactions a second apart tie and keep their file order. gru4recf orders by the exact
   timestamps; the script counts the examples this changes, then loads our side from a copy of
   the data whose timestamps are RecBole's rounded ones, and all later checks use that copy;
2. model: RecBole's freshly initialised weights copied into ours (ids translated) give
   the same loss on RecBole's first training batch;
3. training: `--steps` Adam steps on RecBole's batches, side by side (dropout off in both, as it
   draws random numbers), keep the two losses equal;
4. evaluation: both evaluators, on the two trained copies, give the same metrics on validation
   and test (full ranking, RecBole's masking).

With `--replay` it skips 3 and 4 and instead trains our copy with our Trainer and Evaluator to
early stopping, on RecBole's batches (its shuffling generator) and with the global random
generator where `run_recbole` has it after initialising the model (dropout masks): the printed
validation and test results are then those `run_recbole` prints for the same seed, if the two
libraries compute the same things. RecBole's files (tensorboard logs, checkpoints) go to a
temporary folder.
"""
import argparse
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from parity import adapter

from gru4recf.data.batching import HistoryBatches, histories
from gru4recf.evaluation.evaluator import Evaluator
from gru4recf.evaluation.settings import EvaluationSettings
from gru4recf.experiment import LoadedData, build_model_for, build_trainer, example_users, load_config, load_data, \
    make_batches, run_mode, run_paths_of
from gru4recf.logs import close_logging, init_logging
from gru4recf.models.registry import model_spec
from gru4recf.training.optim import build_optimizer

EXACT = str(Path(__file__).resolve().parents[1] / "configs" / "recbole_exact.yaml")  # RecBole's procedure


def recbole_side(model: str, data_path: str, seed: int, decimals: int, extra: dict) -> tuple:
    """RecBole's config, dataset, its three data loaders, a fresh `model` and a trainer, as
    `run_recbole` builds them."""
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import Trainer
    from recbole.data.transform import construct_transform
    from recbole.utils import get_flops, get_model, init_seed
    torch.autograd.set_detect_anomaly(False)  # RecBole's sine.py turns it on globally at import
    config = Config(model=model, dataset="ml-100k", config_dict={
        "data_path": data_path, "seed": seed, "train_neg_sample_args": None, "show_progress": False,
        "metric_decimal_place": decimals, **extra})
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    rb_model = get_model(model)(config, train._dataset)
    get_flops(rb_model, dataset, config["device"], logging.getLogger(), construct_transform(config))  # draws, as in run_recbole
    return config, dataset, (train, valid, test), rb_model, Trainer(config, rb_model)


def our_settings(model: str, rb_config) -> dict:
    """RecBole's values of our model's keys, so both sides build the same model."""
    return {key: rb_config[key] for key in model_spec(model).settings.keys() if key in rb_config}


def id_map(their_tokens, our_tokens) -> np.ndarray:
    """RecBole id -> our id, through the tokens ('[PAD]' is 0 in both)."""
    index = pd.Index(np.asarray(our_tokens, dtype=object)).get_indexer(np.asarray(their_tokens, dtype=object))
    if (index < 0).any():
        raise SystemExit(f"tokens RecBole has and we lack: {list(np.asarray(their_tokens)[index < 0][:5])}")
    return index


def sorted_rows(rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort(rows.T[::-1])]


def with_recbole_times(data_path: str, out: Path) -> str:
    """A copy of ml-100k whose timestamps are RecBole's: min-max normalised, then float32. Returns its data_path."""
    source, target = Path(data_path) / "ml-100k", out / "ml-100k"
    target.mkdir(parents=True, exist_ok=True)
    inter = pd.read_csv(source / "ml-100k.inter", sep="\t", dtype=str)
    column = next(c for c in inter.columns if c.startswith("timestamp:"))
    seconds = inter[column].astype(np.float64)
    normalised = ((seconds - seconds.min()) / (seconds.max() - seconds.min())).astype(np.float32)
    inter[column] = [repr(float(value)) for value in normalised]  # float32 values are exact in float64
    inter.to_csv(target / "ml-100k.inter", sep="\t", index=False)
    shutil.copyfile(source / "ml-100k.item", target / "ml-100k.item")
    return str(out)


def recbole_examples(loader, items: np.ndarray, users: np.ndarray, max_len: int) -> np.ndarray:
    """[N, 3 + max_len] rows (user, target, length, history) of a RecBole split, in our ids."""
    inter = loader._dataset.inter_feat
    history = items[inter["item_id_list"].numpy()]
    return sorted_rows(np.column_stack([users[inter["user_id"].numpy()], items[inter["item_id"].numpy()],
                                        inter["item_length"].numpy(), history[:, :max_len]]))


def our_examples(dataset, examples, max_len: int) -> np.ndarray:
    """The same rows for one of our splits."""
    history, lengths = histories(dataset.items, examples.targets, examples.starts, max_len)
    history = np.pad(history, ((0, 0), (0, max_len - history.shape[1])))
    users = np.searchsorted(dataset.user_offsets, examples.starts, side="right") - 1
    return sorted_rows(np.column_stack([users, dataset.items[examples.targets], lengths, history]))


def feature_pairs(items: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """The (item, token id) pairs of a feature table, padding (token 0) left out, sorted: tables
    compare as one multiset of tokens per item, however each stores its rows."""
    pairs = np.stack([items, tokens], axis=1).astype(np.int64)[tokens != 0]
    return pairs[np.lexsort(pairs.T[::-1])]


def our_feature_pairs(field, items: np.ndarray) -> np.ndarray:
    """`feature_pairs` of our table `field` (token: [n_items]; token_seq: ragged) over `items`."""
    owner = np.arange(field.n_items) if field.offsets is None else np.repeat(np.arange(field.n_items),
                                                                             np.diff(field.offsets))
    kept = np.isin(owner, items)
    return feature_pairs(owner[kept], field.values[kept])


def token_maps(rb_dataset, ours) -> tuple:
    """RecBole -> our ids for items and users."""
    return (id_map(rb_dataset.field2id_token["item_id"], ours.item_tokens),
            id_map(rb_dataset.field2id_token["user_id"], ours.user_tokens))


def split_rows(rb_dataset, loaders, ours, splits, max_len: int):
    """(split name, RecBole's example rows, ours) for train, valid and test, in our ids."""
    items, users = token_maps(rb_dataset, ours)
    for name, loader in zip(("train", "valid", "test"), loaders):
        yield name, recbole_examples(loader, items, users, max_len), our_examples(ours, splits[name], max_len)


def count_differences(rb_dataset, loaders, ours, splits, max_len: int) -> str:
    """How many examples of each split differ (as rows) between RecBole and `ours`."""
    counts = []
    for name, a, b in split_rows(rb_dataset, loaders, ours, splits, max_len):
        theirs = set(map(bytes, a.astype(np.int64)))
        counts.append(f"{name} {sum(bytes(row) not in theirs for row in b.astype(np.int64))} of {len(b)}")
    return ", ".join(counts)


def check_data(rb_dataset, loaders, ours, splits, max_len: int) -> dict:
    """Prints the data comparison; returns RecBole -> our id maps of items, users and token features."""
    items, users = token_maps(rb_dataset, ours)
    same_ids = np.array_equal(items, np.arange(len(items))) and np.array_equal(users, np.arange(len(users)))
    print(f"item and user ids: {'the same as RecBole' if same_ids else 'differ from RecBole (translated)'}")
    examples = sum(len(part) for part in splits.values())  # RecBole's inter_num counts its augmented rows
    print(f"statistics  users {rb_dataset.user_num} / {ours.n_users}, items {rb_dataset.item_num} / {ours.n_items}, "
          f"examples {rb_dataset.inter_num} / {examples}  (RecBole / ours)")
    maps = {"item": items, "user": users}
    for field in ours.item_features:
        if field.kind not in ("token", "token_seq"):
            continue
        maps[field.name] = tokens = id_map(rb_dataset.field2id_token[field.name], field.vocab)
        theirs = tokens[rb_dataset.get_item_feature()[field.name].numpy()]  # rows in RecBole item order
        theirs = theirs.reshape(len(theirs), -1)  # [RecBole items, longest] in our token ids, 0 = padding
        theirs = feature_pairs(np.repeat(items, theirs.shape[1]), theirs.reshape(-1))
        same = np.array_equal(theirs, our_feature_pairs(field, items))
        print(f"item '{field.name}' tokens, every item: {'identical' if same else 'DIFFERENT'}")
    for name, a, b in split_rows(rb_dataset, loaders, ours, splits, max_len):
        verdict = "identical" if a.shape == b.shape and np.array_equal(a, b) else "DIFFERENT"
        print(f"{name:5s} examples (user, target, history): {len(a)} / {len(b)}  {verdict}")
    return maps


def check_training(rb_model, net, train_loader, our_loss, steps: int, learning_rate: float) -> None:
    """Side-by-side Adam steps on RecBole's batches (`our_loss(inter)`: our loss of one); prints the
    largest loss difference."""
    rb_model.eval()  # no dropout in either: its random draws cannot be shared
    net.eval()
    ours_opt = build_optimizer(net.parameters(), "adam", learning_rate, 0.0)
    theirs_opt = torch.optim.Adam(rb_model.parameters(), lr=learning_rate)
    worst, first = 0.0, None
    for _, inter in zip(range(steps), train_loader):
        losses = []
        for optimiser, loss_of in ((theirs_opt, rb_model.calculate_loss), (ours_opt, our_loss)):
            optimiser.zero_grad()
            loss = loss_of(inter)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        first = losses if first is None else first
        worst = max(worst, abs(losses[0] - losses[1]) / abs(losses[0]))
    print(f"first-batch {net.loss_type} loss RecBole {first[0]:.6f}, ours {first[1]:.6f} (same initial weights)")
    print(f"{steps} Adam steps: last losses RecBole {losses[0]:.6f}, ours {losses[1]:.6f}; "
          f"largest relative difference over all steps {worst:.2e}")


def check_evaluation(trainer, loaders, net, ours, splits, max_len: int, decimals: int) -> None:
    """Each library's evaluator on its own trained copy: the metrics side by side."""
    evaluator = Evaluator(["Recall", "MRR", "NDCG", "Hit", "Precision"], [10], decimals)
    for name, loader in zip(("valid", "test"), loaders[1:]):
        theirs = trainer.evaluate(loader, load_best_model=False)
        users = example_users(ours.user_offsets, splits[name])  # read by models that need them (Caser)
        mine = evaluator.evaluate(net, HistoryBatches(ours.items, splits[name], max_len, 4096, users=users))
        gap = max(abs(float(theirs[k]) - mine[k]) for k in mine)
        print(f"{name:5s} RecBole {dict(theirs)}\n      ours    {dict(mine)}  largest difference {gap:.1e}")


class RecBoleBatches:
    """RecBole's training loader as our batches (`to_batch` translates ids). Its shuffling generator
    advances by itself from epoch to epoch, so `set_epoch` has nothing to do."""

    def __init__(self, loader, to_batch) -> None:
        self.loader, self.to_batch = loader, to_batch

    def set_epoch(self, epoch: int) -> None:
        pass

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for inter in self.loader:
            yield self.to_batch(inter)


def replay(config, net, loaders, data: LoadedData, to_batch) -> None:
    """Our Trainer and Evaluator train `net` (holding RecBole's initial weights) to early stopping
    on RecBole's batches, while dropout draws from the global generator exactly where RecBole's
    run is; prints the results, which `run_recbole` with the same seed should match."""
    paths = run_paths_of(config)
    init_logging(paths.log_file, paths.log_setting)  # the console, and the run's log file
    device = torch.device("cpu")
    evaluator = Evaluator.from_settings(config.section(EvaluationSettings), device)  # early stopping compares these
    trainer = build_trainer(config, net, evaluator, run_mode(config), device)
    batches = make_batches(config, data, None)  # our validation and test batches; training's are RecBole's
    _, best = trainer.fit(RecBoleBatches(loaders[0], to_batch), batches.valid)
    test = evaluator.evaluate(net, batches.test)
    close_logging()
    print(f"replay: best epoch {trainer.best_epoch}, stopped after {trainer.next_epoch} epochs\n"
          f"best valid {dict(best)}\ntest       {dict(test)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="GRU4RecF", help="a model both libraries have")
    parser.add_argument("--loss_type", choices=("CE", "BPR"), default=None,
                        help="the loss (default: RecBole's default of the model); BPR draws one uniform negative")
    parser.add_argument("--data_path", default="../shared/datasets")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--steps", type=int, default=48, help="side-by-side Adam steps (48 = one epoch)")
    parser.add_argument("--num_threads", type=int, default=2)
    parser.add_argument("--replay", action="store_true",
                        help="instead of the step and evaluation checks, train to early stopping on RecBole's "
                             "batches and random stream (as long as a run: ~25 epochs)")
    args = parser.parse_args()
    torch.set_num_threads(args.num_threads)
    data_path = os.path.abspath(args.data_path)
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        compare(data_path, Path(folder), args)


def compare(data_path: str, folder: Path, args: argparse.Namespace) -> None:
    """Every check of the module docstring, in `folder` (RecBole writes into the working folder)."""
    decimals = 8
    model = adapter(args.model)
    extra = dict(model.RECBOLE_CONFIG)
    if args.loss_type is not None:
        extra["loss_type"] = args.loss_type
    if args.loss_type == "BPR":
        extra["train_neg_sample_args"] = {"distribution": "uniform", "sample_num": 1}
    rb_config, rb_dataset, loaders, rb_model, trainer = recbole_side(args.model, data_path, args.seed, decimals, extra)
    settings = our_settings(args.model, rb_config)
    if args.loss_type == "BPR":
        settings["train_neg_sample_args"] = extra["train_neg_sample_args"]
    config = load_config(args.model, "ml-100k", [EXACT], config_dict={"data_path": data_path, "seed": args.seed,
                                                                       **settings})
    max_len = config.MAX_ITEM_LIST_LENGTH
    exact_data = load_data(config)
    exact = count_differences(rb_dataset, loaders, exact_data.dataset, exact_data.splits, max_len)
    print(f"examples that differ with exact timestamps (ours) vs RecBole's normalised float32 ones: {exact}")
    config = load_config(args.model, "ml-100k", [EXACT], config_dict={
        "data_path": with_recbole_times(data_path, folder / "data"), "seed": args.seed, **settings})
    data = load_data(config)
    ours, splits = data.dataset, data.splits
    print("from here on, our side reads the data with RecBole's timestamps")
    maps = check_data(rb_dataset, loaders, ours, splits, max_len)
    with torch.random.fork_rng():  # our initialisation must not move the generator RecBole's run goes on with
        net = build_model_for(config, ours)
    model.copy_weights(rb_model, net, maps)
    to_batch = lambda inter: model.to_batch(inter, maps)
    if args.replay:
        return replay(config, net, loaders, data, to_batch)
    check_training(rb_model, net, loaders[0], lambda inter: model.loss(net, inter, maps), args.steps,
                   config.learning_rate)
    check_evaluation(trainer, loaders, net, ours, splits, max_len, decimals)


if __name__ == "__main__":
    main()
