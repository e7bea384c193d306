"""What tests/test_distributed.py runs in each process of a 2-process torchrun job, and in the test
process itself (one process) for comparison.

    python -m torch.distributed.run --nproc_per_node=2 tests/ddp_worker.py DATA_PATH OUT_FILE

Rank 0 saves {'evaluation', 'first_steps', 'run'} to OUT_FILE with torch.save (tensors and plain
data only: it loads with weights_only=True).
"""
import sys
from itertools import islice
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gru4recf import run_gru4recf  # noqa: E402
from gru4recf.distributed import DistributedContext, distributed_run  # noqa: E402
from gru4recf.experiment import build_run, load_config, load_data  # noqa: E402
from gru4recf.runtime import init_seed, set_threads  # noqa: E402
from helpers import small_config, write_pattern_dataset, write_session_dataset  # noqa: E402

NAME = "ddp"
BPR = {"loss_type": "BPR", "train_neg_sample_args": {"distribution": "uniform", "sample_num": 3}}
# One optimiser step per case; the batch sizes make the two processes' shards unequal (odd global
# batches, sequences of different lengths and chunk counts), and a batch of 1 leaves rank 1 without rows.
FIRST_STEP_CASES = {
    "augment-CE": {"train_batch_size": 63},
    "augment-BPR": dict(BPR, train_batch_size=63),
    "augment-sampled-softmax": {"train_batch_size": 63, "sampled_softmax": {"num_samples": 8, "alpha": 0.75}},
    "augment-one-example": {"train_batch_size": 1},
    "sequence-CE": {"train_mode": "sequence", "train_batch_size": 301},
    "sequence-BPR": dict(BPR, train_mode="sequence", train_batch_size=301, segment_length=None),  # whole sequences
    # sparse item-table gradients through DDP; Adam's first step moves each touched weight by ~lr
    "sequence-sparse-adam": {"train_mode": "sequence", "train_batch_size": 301, "learner": "sparse_adam",
                             "learning_rate": 0.01, "sampled_softmax": {"num_samples": 8, "alpha": 0.75}},
}
EVAL_SETTINGS = {"eval_batch_size": 7, "metric_decimal_place": 12}
# The session protocol: sessions, the time split, the next click at every position, median ties.
SESSIONS = "ddp_sessions"
SESSION_SETTINGS = dict(EVAL_SETTINGS, model="GRU4Rec", dataset=SESSIONS, SESSION_ID_FIELD="session_id",
                        rank_ties="median", eval_args={"split": {"TS": {"valid_days": 2, "test_days": 2}}})
# The training run compared with the command line's interrupted-and-resumed run.
RUN_SETTINGS = {"train_mode": "sequence", "train_batch_size": 64, "epochs": 3}


def write_dataset(folder: Path) -> Path:
    """The pattern dataset (61 users) with 1-19 extra interactions for the first ten users, so
    that sequence lengths (and so chunk counts) differ."""
    write_pattern_dataset(folder, NAME, n_users=61)
    rows = [f"u{user}\t{(user + step) % 30}\t3\t{5000 + step}" for user in range(10) for step in range(1 + 2 * user)]
    with open(folder / NAME / f"{NAME}.inter", "a", encoding="utf-8") as handle:
        handle.write("\n".join(rows) + "\n")
    write_session_dataset(folder, SESSIONS, n_sessions=101)
    return folder


def config_for(data_path: Path, **overrides):
    settings = small_config(data_path, dataset=NAME, MAX_ITEM_LIST_LENGTH=4, dropout_prob=0.0, learner="sgd",
                            learning_rate=0.5)
    settings.update(overrides)
    return load_config(config_dict=settings)


def build(config, distributed: DistributedContext):
    """The run as `run_experiment` builds it, without checkpoints."""
    set_threads(1)
    init_seed(config.seed, config.reproducibility)
    return build_run(config, load_data(config, distributed), torch.device("cpu"), distributed)


def evaluation(data_path: Path, distributed: DistributedContext) -> dict:
    """Validation and test metrics (12 decimals) of one freshly initialised model."""
    run = build(config_for(data_path, **EVAL_SETTINGS), distributed)
    sessions = build(config_for(data_path, **SESSION_SETTINGS), distributed)
    return {"valid": dict(run.evaluator.evaluate(run.model, run.batches.valid)),
            "test": dict(run.evaluator.evaluate(run.model, run.batches.test)),
            "sessions": dict(sessions.evaluator.evaluate(sessions.model, sessions.batches.test))}


def first_steps(data_path: Path, distributed: DistributedContext, cases=tuple(FIRST_STEP_CASES)) -> dict:
    """Per case: the loss of the first global batch and the weights after its (SGD) step."""
    results = {}
    for name in cases:
        run = build(config_for(data_path, **FIRST_STEP_CASES[name]), distributed)
        loss = run.trainer.train_epoch(islice(run.batches.train, 1), 0)
        results[name] = {"loss": loss, "weights": {k: v.detach().clone() for k, v in run.model.state_dict().items()}}
    return results


def main(data_path: str, out_file: str) -> None:
    with distributed_run("gloo", torch.device("cpu")) as (distributed, _):
        results = {"evaluation": evaluation(Path(data_path), distributed),
                   "first_steps": first_steps(Path(data_path), distributed)}
        config = config_for(Path(data_path), **RUN_SETTINGS).to_dict()
        run = run_gru4recf(config_dict=config, saved=False)
        results["run"] = {"test_result": dict(run["test_result"]), "best_valid_result": dict(run["best_valid_result"])}
        results["world_size"] = distributed.world_size
        if distributed.is_main:
            torch.save(results, out_file)


if __name__ == "__main__":
    main(*sys.argv[1:3])
