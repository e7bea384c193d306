"""Session-parallel training (train_mode 'session_parallel'): which rows read what at each step, the
state each row carries, the authors' optimiser, and the configuration errors around them."""
import numpy as np
import pytest
import torch

from gru4recf import run_gru4recf
from gru4recf.data.sampler import CandidateSampler
from gru4recf.data.session_batches import SessionParallelBatches, session_schedule
from gru4recf.data.split import Examples, leave_one_out
from gru4recf.distributed import StepRunner
from gru4recf.errors import ConfigError
from gru4recf.experiment import load_config
from gru4recf.models.gru4rec import GRU4Rec
from gru4recf.training.adagrad import AdagradMomentum
from gru4recf.training.modes import Sampling, SessionParallelMode
from helpers import small_config, write_pattern_dataset


def test_schedule_gives_a_finished_row_the_next_sequence_and_drops_rows_when_none_is_left():
    """Targets per sequence 3, 1, 2, 2 on 2 rows, worked out by hand: row 1 finishes sequence 1
    after one step and takes sequence 2; after step 3 both rows finish, row 0 takes sequence 3 and
    row 1 is dropped."""
    steps = [(s.tolist(), p.tolist(), c.tolist()) for s, p, c in session_schedule(np.array([3, 1, 2, 2]), 2)]
    assert steps == [([0, 1], [0, 0], [-1, -1]),
                     ([0, 2], [1, 0], [0, -1]),
                     ([0, 2], [2, 1], [0, 1]),
                     ([3], [0], [-1]),
                     ([3], [1], [0])]


def sequences(lengths=(4, 2, 6, 3, 5, 2)):
    rng = np.random.default_rng(0)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return rng.integers(1, 15, size=offsets[-1]), offsets


def all_targets(offsets):
    """Every position after a sequence's first as an example (each sequence is all training)."""
    starts = np.repeat(offsets[:-1], np.diff(offsets) - 1)
    targets = np.concatenate([np.arange(a + 1, b) for a, b in zip(offsets[:-1], offsets[1:])])
    return Examples(targets.astype(np.int64), starts.astype(np.int64))


def test_every_training_target_is_read_once_after_its_own_sequences_items():
    items, offsets = sequences()
    batches = SessionParallelBatches(items, all_targets(offsets), batch_size=3, seed=1)
    read = {}  # row -> the items it has read since its state was last reset
    seen = []
    for step in batches:
        previous, read = read, {}
        for row, (carry, item, target) in enumerate(zip(step.carry.tolist(), step.inputs.tolist(),
                                                        step.targets.tolist())):
            read[row] = ([] if carry < 0 else previous[carry]) + [item]
            seen.append((tuple(read[row]), target))
    expected = []
    for a, b in zip(offsets[:-1], offsets[1:]):
        expected += [(tuple(items[a:t]), int(items[t])) for t in range(a + 1, b)]
    assert sorted(seen) == sorted(expected)
    assert len(batches) == sum(1 for _ in batches)


def test_shared_negatives_are_drawn_per_step_and_seeded_by_seed_and_epoch():
    items, offsets = sequences()
    sampler = CandidateSampler.for_batch_losses(np.bincount(items, minlength=15), 4, 0.5)
    batches = SessionParallelBatches(items, all_targets(offsets), 3, seed=1, candidate_sampler=sampler)
    first = [step.candidates.items.tolist() for step in batches]
    assert all(len(drawn) == 4 for drawn in first) and len({tuple(d) for d in first}) > 1
    batches.set_epoch(1)
    assert [step.candidates.items.tolist() for step in batches] != first
    batches.set_epoch(0)
    assert [step.candidates.items.tolist() for step in batches] == first


def test_each_rows_state_is_the_gru_state_after_its_own_sequence_so_far():
    """After every step, the state the mode keeps for a row equals a fresh pass of the GRU over the
    items that row's sequence has given so far: reset on a new sequence, carried otherwise."""
    torch.manual_seed(0)
    items, offsets = sequences()
    model = GRU4Rec(15, embedding_size=6, hidden_size=6, dropout_prob=0.0, loss_type="CE-batch").eval()
    mode, runner = SessionParallelMode(), StepRunner()
    read = {}
    for step in SessionParallelBatches(items, all_targets(offsets), 3):
        previous, read = read, {}
        for row, (carry, item) in enumerate(zip(step.carry.tolist(), step.inputs.tolist())):
            read[row] = ([] if carry < 0 else previous[carry]) + [item]
        mode.backward(model, runner, step, lambda loss: None)
        for row, history in read.items():
            _, alone = model.gru(model.item_embedding(torch.tensor([history])))
            assert torch.allclose(mode.state[:, row], alone[:, 0], atol=1e-6)


def test_session_parallel_runs_in_one_process_only():
    items, offsets = sequences()
    with pytest.raises(ConfigError, match="train_mode 'session_parallel' trains in one process"):
        SessionParallelMode().batches(items, all_targets(offsets), Sampling(8, 0, rank=0, world_size=2))


def test_adagrad_momentum_follows_the_authors_rule_on_dense_and_sparse_rows():
    """Two steps worked out by hand: accumulator += g**2, v = momentum * v - lr * g / sqrt(acc + eps),
    w += v; a sparse gradient leaves untouched rows (and their velocity) alone."""
    lr, momentum, eps = 0.1, 0.5, 1e-6
    weight = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    optimizer = AdagradMomentum([weight], lr=lr, momentum=momentum)
    g1, g2 = [0.5, -1.0], [0.5, 0.5]
    for grad in (g1, g2):
        weight.grad = torch.tensor(grad)
        optimizer.step()
    expected = []
    for w, a, b in zip([1.0, 2.0], g1, g2):
        v1 = -lr * a / (a * a + eps) ** 0.5
        v2 = momentum * v1 - lr * b / (a * a + b * b + eps) ** 0.5
        expected.append(w + v1 + v2)
    assert weight.tolist() == pytest.approx(expected, rel=1e-6)

    table = torch.nn.Embedding(3, 1, sparse=True)
    torch.nn.init.ones_(table.weight)
    optimizer = AdagradMomentum(table.parameters(), lr=lr, momentum=momentum)
    for rows in ([0, 1], [1]):  # row 0 once, row 1 twice, row 2 never
        optimizer.zero_grad()
        table(torch.tensor(rows)).sum().backward()
        optimizer.step()
    v1 = -lr / (1 + eps) ** 0.5
    assert table.weight[:, 0].tolist() == pytest.approx([1 + v1, 1 + v1 + momentum * v1 - lr / (2 + eps) ** 0.5, 1.0],
                                                        rel=1e-6)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_pattern_dataset(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("loss_type", ["BPR-max", "CE-batch"])
def test_the_authors_gru4rec_learns_the_pattern_in_session_parallel_mode(loss_type, data_dir, tmp_path):
    config = small_config(data_dir, model="GRU4Rec", dataset="toy", train_mode="session_parallel",
                          loss_type=loss_type, n_sample=8, train_batch_size=8, epochs=4, learner="adagrad_momentum",
                          momentum=0.2, learning_rate=0.1, constrained_embedding=True, output_bias=True,
                          gru_bias=True, logq=1.0, checkpoint_dir=str(tmp_path / "saved"))
    result = run_gru4recf(config_dict=config, saved=False)
    assert result["test_result"]["recall@10"] > 0.8


@pytest.mark.parametrize("loss_type, negatives", [("CE", None), ("BPR", {"sample_num": 2})])
def test_the_recbole_losses_train_in_session_parallel_mode_too(loss_type, negatives, data_dir):
    config = small_config(data_dir, model="GRU4Rec", dataset="toy", train_mode="session_parallel", epochs=3,
                          loss_type=loss_type, train_neg_sample_args=negatives, train_batch_size=16,
                          learning_rate=0.02)
    result = run_gru4recf(config_dict=config, saved=False)
    assert result["test_result"]["recall@10"] > 0.5


def test_gru4recf_carries_both_states_in_session_parallel_mode(data_dir):
    config = small_config(data_dir, model="GRU4RecF", dataset="toy", train_mode="session_parallel", epochs=3,
                          loss_type="TOP1-max", n_sample=8, train_batch_size=8, selected_features=["class"])
    result = run_gru4recf(config_dict=config, saved=False)
    assert result["test_result"]["recall@10"] > 0.8


def config_with(tmp_path, **values):
    return load_config("GRU4Rec", "toy", config_dict=dict(small_config(tmp_path), **values))


def test_a_batch_loss_refuses_sampled_softmax_and_drops_bpr_negatives(tmp_path):
    with pytest.raises(ConfigError, match="sampled_softmax applies to loss_type 'CE'; loss_type 'TOP1'"):
        config_with(tmp_path, loss_type="TOP1", sampled_softmax={"num_samples": 10})
    config = config_with(tmp_path, loss_type="TOP1-max", train_neg_sample_args={"sample_num": 2})
    assert config.train_neg_sample_args is None
    assert any("train_neg_sample_args" in warning and "ignored" in warning for warning in config.warnings)


def test_a_batch_loss_needs_something_to_compare_a_target_with(tmp_path):
    with pytest.raises(ConfigError, match="with n_sample 0 .* train_batch_size is 1"):
        config_with(tmp_path, loss_type="BPR-max", n_sample=0, train_batch_size=1)


def test_keys_of_the_batch_losses_and_of_the_momentum_learner_warn_when_ignored(tmp_path):
    config = config_with(tmp_path, bpreg=2.0, momentum=0.3)
    assert any("bpreg apply to the batch losses" in warning for warning in config.warnings)
    assert any("momentum applies to learner 'adagrad_momentum'" in warning for warning in config.warnings)


def test_a_constrained_embedding_needs_the_hidden_size(tmp_path):
    with pytest.raises(ConfigError, match="embedding_size equal to hidden_size .* found embedding_size 16 and "
                                          "hidden_size 32"):
        config_with(tmp_path, constrained_embedding=True, embedding_size=16, hidden_size=32)


def test_a_model_without_a_carried_state_has_no_session_parallel_mode(tmp_path):
    with pytest.raises(ConfigError, match="does not support train_mode 'session_parallel'"):
        load_config("SASRec", "toy", config_dict=dict(small_config(tmp_path), train_mode="session_parallel"))


def test_the_defaults_keep_recbole_s_gru4rec(tmp_path):
    model = GRU4Rec(10)
    assert model.dense is not None and model.item_bias is None and model.gru.bias is False
    assert not any(name.startswith("item_bias") for name in model.state_dict())


def test_the_batch_losses_count_every_training_click_as_the_authors_do(tmp_path):
    """Popularity for the shared negatives and log-Q: training targets plus each training sequence's
    first click (which is never a target). Two users 1,2,3,1 and 1,3,2,2; leave-one-out trains on
    the second click of each, so item 1 is clicked twice in training though never a target."""
    from gru4recf.data.dataset import SequenceDataset
    from gru4recf.distributed import SINGLE_PROCESS
    from gru4recf.experiment import LoadedData, _sampling
    from gru4recf.training.settings import TrainingSettings

    offsets = np.array([0, 4, 8])
    data = SequenceDataset("toy", np.array(["[PAD]", "a", "b"], dtype=object),
                           np.array(["[PAD]", "x", "y", "z"], dtype=object), offsets,
                           np.array([1, 2, 3, 1, 1, 3, 2, 2]), [])
    splits = leave_one_out(offsets)
    training = config_with(tmp_path, loss_type="BPR-max", n_sample=4).section(TrainingSettings)
    sampling = _sampling(0, training, LoadedData(data, splits), SINGLE_PROCESS, "BPR-max")
    assert sampling.candidates.target_log_q[1:].tolist() == pytest.approx([np.log(2), 0.0, 0.0])
    assert sampling.candidates.probabilities[1:].tolist() == pytest.approx([np.sqrt(2) / (np.sqrt(2) + 2),
                                                                            1 / (np.sqrt(2) + 2),
                                                                            1 / (np.sqrt(2) + 2)])
