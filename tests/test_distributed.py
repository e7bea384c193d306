"""Data-parallel training under torchrun: the same results as one process, one set of files.

The 2-process tests start `python -m torch.distributed.run --nproc_per_node=2` themselves (gloo
on 127.0.0.1, a free port) on a tiny dataset: a worker job (tests/ddp_worker.py) and the command
line (run.py), about 10 s each on 2 cores. Everything else runs in this process.
"""
import ast
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ddp_worker
from gru4recf import load_model
from gru4recf.cli import main
from gru4recf.data.batching import HistoryBatches, shard_rows
from gru4recf.data.sampler import CandidateSampler, NegativeSampler
from gru4recf.data.sequence_batches import SequenceBatches
from gru4recf.data.split import Examples
from gru4recf.distributed import SINGLE_PROCESS, DistributedContext, context_from_env, resolve_backend
from gru4recf.errors import DistributedError
from gru4recf.models.registry import build_model
from gru4recf.experiment import load_data
from gru4recf.runtime import init_seed
from gru4recf.search.cli import main as hyper_main
from gru4recf.evaluation.metrics import compute_metrics, metrics_from_counts, rank_counts
from gru4recf.training.checkpoint import read_checkpoint

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
              "GROUP_RANK", "ROLE_RANK", "TORCHELASTIC_RUN_ID")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(*args: str) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node=2 ARGS` from the repository root, one thread per process."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_ENV}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def data_path(tmp_path_factory) -> Path:
    return ddp_worker.write_dataset(tmp_path_factory.mktemp("ddp"))


@pytest.fixture(scope="module")
def two_processes(data_path) -> dict:
    """What the worker job computed with 2 processes (see ddp_worker.main)."""
    out = data_path / "two_processes.pt"
    torchrun("tests/ddp_worker.py", str(data_path), str(out))
    return torch.load(out, weights_only=True)


# ---- sharding: disjoint, complete, equal step counts, weights -------------------------------------------------

def test_shard_rows_are_disjoint_complete_and_weighted_by_their_share():
    weights = np.array([5.0, 4, 4, 2, 1])
    shards = [shard_rows(weights, rank, 2) for rank in range(2)]
    assert sorted(np.concatenate([rows for rows, _ in shards]).tolist()) == [0, 1, 2, 3, 4]
    assert [rows.tolist() for rows, _ in shards] == [[0, 2, 4], [1, 3]]
    assert [weight for _, weight in shards] == [2 * 10 / 16, 2 * 6 / 16]  # mean of weighted shard losses = global
    assert shard_rows(weights, 0, 1)[1] == 1.0
    rows, weight = shard_rows(np.ones(1), 1, 2)  # nothing left for rank 1: a placeholder row of weight 0
    assert rows.tolist() == [0] and weight == 0.0


def _examples(users: int = 9, length: int = 6) -> tuple:
    items = np.arange(1, users * length + 1) % 17 + 1
    starts = np.repeat(np.arange(users) * length, length - 1)
    targets = starts + np.tile(np.arange(1, length), users)
    return items, Examples(targets=targets, starts=starts)


def test_history_batch_shards_split_every_global_batch_of_the_single_process():
    items, examples = _examples()
    sampler, candidates = NegativeSampler(18, "uniform"), CandidateSampler(np.ones(18), 4)
    make = lambda rank, world: HistoryBatches(items, examples, 3, 7, shuffle=True, seed=3, sampler=sampler,
                                              num_negatives=2, candidate_sampler=candidates, rank=rank,
                                              world_size=world)
    whole, shards = list(make(0, 1)), [list(make(rank, 2)) for rank in range(2)]
    assert len(shards[0]) == len(shards[1]) == len(whole)  # equal step counts: nobody waits forever
    for batch, *parts in zip(whole, *shards):
        for rank, part in enumerate(parts):
            rows = torch.arange(rank, len(batch), 2)
            width = part.history.shape[1]
            assert torch.equal(part.history, batch.history[rows, :width]) and not batch.history[rows, width:].any()
            for name in ("lengths", "targets", "negatives"):
                assert torch.equal(getattr(part, name), getattr(batch, name)[rows])
            assert torch.equal(part.candidates.items, batch.candidates.items)  # shared: the same on every process
            assert torch.equal(part.candidates.target_log_q, batch.candidates.target_log_q[rows])
        assert parts[0].weight + parts[1].weight == pytest.approx(2.0) and batch.weight == 1.0


def test_sequence_batch_shards_split_users_longest_first_and_weigh_their_targets():
    items, _ = _examples()
    lengths = np.array([2, 9, 4, 6, 3, 8, 5])
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    examples = Examples(targets=np.concatenate([s + 1 + np.arange(n) for s, n in zip(starts, lengths)]),
                        starts=np.repeat(starts, lengths))
    items = np.arange(1, int(starts[-1] + lengths[-1] + 2)) % 13 + 1
    make = lambda rank, world: SequenceBatches(items, examples, 12, seed=1, sampler=NegativeSampler(14),
                                               num_negatives=2, rank=rank, world_size=world)
    whole, shards = list(make(0, 1)), [list(make(rank, 2)) for rank in range(2)]
    assert len(shards[0]) == len(shards[1]) == len(whole)
    for batch, *parts in zip(whole, *shards):
        for rank, part in enumerate(parts):
            rows = torch.arange(rank, len(batch.lengths), 2)
            if len(rows) == 0:
                assert part.weight == 0.0
                continue
            assert torch.equal(part.lengths, batch.lengths[rows])
            assert part.inputs.shape[1] == int(part.lengths.max())  # cut to its own longest sequence
            assert torch.equal(part.targets, batch.targets[rows, :part.inputs.shape[1]])
            assert torch.equal(part.negatives, batch.negatives[rows, :part.inputs.shape[1]])
            assert part.weight == pytest.approx(2 * part.num_targets / batch.num_targets)


def test_metrics_from_summed_rank_counts_equal_the_metrics_of_all_examples():
    ranks = torch.tensor([0, 1, 3, 10, 2, 0, 7, 1, 5])
    ranks = torch.cat([ranks, torch.tensor([1.5, 4.5])])  # median ties give half ranks
    counts = rank_counts(ranks[:4], 10) + rank_counts(ranks[4:], 10)
    names = ["Recall", "MRR", "NDCG", "Hit", "Precision", "MAP"]
    assert metrics_from_counts(counts, names, [5, 10], 12) == compute_metrics(ranks, names, [5, 10], 12)


# ---- two processes against one ---------------------------------------------------------------------------------

def test_full_ranking_metrics_of_one_model_are_identical_with_one_and_two_processes(two_processes, data_path):
    assert two_processes["world_size"] == 2
    single = ddp_worker.evaluation(data_path, SINGLE_PROCESS)
    assert two_processes["evaluation"] == single  # 12 decimals, uneven shards (61 users, batches of 7)
    assert 0 < single["valid"]["recall@10"] < 1 and 0 < single["sessions"]["recall@10"] < 1  # the session protocol too


@pytest.mark.parametrize("case", list(ddp_worker.FIRST_STEP_CASES))
def test_first_step_loss_and_update_equal_the_single_process_ones_for_the_same_global_batch(case, two_processes,
                                                                                             data_path):
    single = ddp_worker.first_steps(data_path, SINGLE_PROCESS, [case])[case]
    double = two_processes["first_steps"][case]
    assert double["loss"] == pytest.approx(single["loss"], rel=1e-6)
    run = ddp_worker.build(ddp_worker.config_for(data_path, **ddp_worker.FIRST_STEP_CASES[case]), SINGLE_PROCESS)
    initial = run.model.state_dict()
    moved = max((single["weights"][k] - initial[k]).abs().max().item() for k in initial)
    assert moved > 1e-3  # the step did something, and the same thing with two processes (SGD: same gradient)
    for name, weights in single["weights"].items():
        torch.testing.assert_close(double["weights"][name], weights, rtol=1e-5, atol=1e-6, msg=name)


def cli_args(data_path: Path, **overrides) -> list:
    settings = dict(ddp_worker.config_for(data_path, **ddp_worker.RUN_SETTINGS))
    keys = ["dataset", "data_path", "log_dir", "checkpoint_dir", "results_dir", "train_batch_size", "embedding_size", "hidden_size",
            "MAX_ITEM_LIST_LENGTH", "num_threads", "learning_rate", "dropout_prob", "learner", "train_mode", "epochs"]
    settings.update(overrides)
    return [f"--{key}={settings[key]}" for key in keys] + ["--show_progress=False", "--topk=[5,10]"]


def test_torchrun_training_writes_one_checkpoint_that_loads_alone_and_resumes(two_processes, data_path, tmp_path):
    out = {"log_dir": str(tmp_path / "log"), "checkpoint_dir": str(tmp_path / "saved")}
    first = torchrun("run.py", *cli_args(data_path, epochs=2, **out))
    assert first.stderr.count("test result:") == 1  # rank 0 logs, rank 1 does not
    (best,) = [p for p in (tmp_path / "saved").glob("*.pth") if not p.name.endswith(".last.pth")]
    (last,) = (tmp_path / "saved").glob("*.last.pth")
    assert len(list((tmp_path / "log").rglob("*.log"))) == 1
    assert read_checkpoint(last).meta["training"]["next_epoch"] == 2
    assert not any(k.startswith("module.") for k in read_checkpoint(best).state_dict)  # the model's own keys
    recommendation = load_model(best).recommend(["3", "4", "5"], k=5)
    assert len(recommendation.items) == 5
    alone = tmp_path / "alone"  # a copy of the run's files, continued by one process
    alone.mkdir()
    for path in (best, last):
        shutil.copy(path, alone / path.name)
    assert main(cli_args(data_path, epochs=3, **out) + [f"--resume={alone / last.name}"]) == 0
    assert read_checkpoint(alone / last.name).meta["training"]["next_epoch"] == 3

    resumed = torchrun("run.py", *cli_args(data_path, epochs=3, **out), f"--resume={last}")
    assert read_checkpoint(last).meta["training"]["next_epoch"] == 3
    test_line = next(line for line in resumed.stderr.splitlines() if line.startswith("test result:"))
    pairs = test_line.split(":", 1)[1].split()  # 'recall@5 0.2500  mrr@5 0.1250 ...'
    # the worker trained the same 3 epochs without a break, also with 2 processes
    assert {name: float(value) for name, value in zip(pairs[::2], pairs[1::2])} == two_processes["run"]["test_result"]


# ---- errors ----------------------------------------------------------------------------------------------------

def test_incomplete_torchrun_variables_are_an_error_naming_them():
    with pytest.raises(DistributedError, match="RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not set.*torchrun"):
        context_from_env({"WORLD_SIZE": "2"})
    launched = {"WORLD_SIZE": "2", "RANK": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}
    with pytest.raises(DistributedError, match=r"RANK=2 is outside 0..1"):
        context_from_env(launched)
    with pytest.raises(DistributedError, match=r"WORLD_SIZE='two' is not an integer"):
        context_from_env({"WORLD_SIZE": "two"})
    assert context_from_env({}) == (0, 0, 1) and context_from_env({"WORLD_SIZE": "1"}) == (0, 0, 1)
    assert context_from_env(dict(launched, RANK="1", LOCAL_RANK="1")) == (1, 1, 2)


def test_nccl_without_gpus_is_refused_and_auto_picks_gloo_on_cpus():
    with pytest.raises(DistributedError, match="'nccl' needs CUDA devices.*ddp_backend=gloo"):
        resolve_backend("nccl", torch.device("cpu"))
    assert resolve_backend("auto", torch.device("cpu")) == "gloo"
    assert resolve_backend("auto", torch.device("cuda", 0)) == "nccl"


def test_command_line_under_a_broken_launcher_prints_one_error_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert main([f"--data_path={tmp_path}", f"--log_dir={tmp_path / 'log'}", "--num_threads=1"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("gru4recf: error:") and "WORLD_SIZE=2" in error and "torchrun" in error


def test_hyper_parameter_search_refuses_to_run_under_torchrun(monkeypatch, capsys, tmp_path):
    for name, value in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(name, value)
    params = tmp_path / "p.test"
    params.write_text("learning_rate choice [0.01]\n")
    assert hyper_main([f"--params_file={params}", f"--output_file={tmp_path / 'out.tsv'}"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "does not run under torchrun" in error and "--workers" in error


def test_a_single_process_context_does_nothing():
    tensor = torch.tensor([1, 2])
    assert SINGLE_PROCESS.sum(tensor) is tensor and SINGLE_PROCESS.from_main(True) is True
    assert not DistributedContext().active and DistributedContext(rank=1, world_size=2).active


def test_alternating_strategy_under_torchrun_leaves_the_frozen_subnet_untouched(data_path, tmp_path):
    """Epoch 0 of 'alternating' trains the item subnet only: DDP must accept parameters without a
    gradient, and with Adam the feature subnet must end the epoch exactly as it was drawn.
    Segments in sequence mode ride along."""
    out = {"log_dir": str(tmp_path / "log"), "checkpoint_dir": str(tmp_path / "saved")}
    extra = ["--training_strategy=alternating", "--segment_length=3"]
    torchrun("run.py", *cli_args(data_path, epochs=1, learner="adam", learning_rate=0.05, **out), *extra)
    (best,) = [p for p in (tmp_path / "saved").glob("*.pth") if not p.name.endswith(".last.pth")]
    trained = read_checkpoint(best).state_dict
    config = ddp_worker.config_for(data_path, **dict(ddp_worker.RUN_SETTINGS, epochs=1))
    init_seed(config.seed, config.reproducibility)
    dataset = load_data(config).dataset
    init_seed(config.seed, config.reproducibility)
    drawn = build_model("GRU4RecF", config, dataset.n_items, dataset.item_features).state_dict()
    feature = [k for k in drawn if k.startswith(("grus.feature.", "heads.feature.", "features."))]
    assert feature and all(torch.equal(trained[k], drawn[k]) for k in feature)
    assert not torch.equal(trained["grus.item.weight_hh_l0"], drawn["grus.item.weight_hh_l0"])
