"""The `sparse_adam` learner: Adam on dense gradients, lazy (touched rows only) on sparse ones."""
import pytest
import torch

from gru4recf import run_gru4recf
from gru4recf.errors import ConfigError
from gru4recf.training.lazy_adam import LazyAdam
from helpers import small_config, write_pattern_dataset


def twin_parameters(sparse: bool):
    torch.manual_seed(0)
    table = torch.nn.Embedding(12, 4, sparse=sparse)
    dense = torch.nn.Linear(4, 1)
    return table, dense


def run_steps(table, dense, optimizer, batches):
    for rows in batches:
        optimizer.zero_grad()
        dense(table(torch.tensor(rows))).pow(2).sum().backward()
        optimizer.step()


BATCHES = [[1, 2, 2], [3, 1], [5, 6, 1]]


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_dense_gradients_get_exactly_adam(weight_decay):
    ours, reference = twin_parameters(False), twin_parameters(False)
    run_steps(*ours, LazyAdam([p for m in ours for p in m.parameters()], lr=0.01, weight_decay=weight_decay),
              BATCHES)
    run_steps(*reference, torch.optim.Adam([p for m in reference for p in m.parameters()], lr=0.01,
                                           weight_decay=weight_decay), BATCHES)
    for a, b in zip([p for m in ours for p in m.parameters()], [p for m in reference for p in m.parameters()]):
        assert torch.allclose(a, b, atol=1e-6)


def test_sparse_gradients_move_only_the_touched_rows_as_sparse_adam_does():
    ours, reference = twin_parameters(True), twin_parameters(True)
    before = ours[0].weight.detach().clone()
    # eps ~0: SparseAdam adds eps before its bias correction, Adam (and LazyAdam) after it
    run_steps(*ours, LazyAdam([p for m in ours for p in m.parameters()], lr=0.01, eps=1e-12), BATCHES)
    sparse = torch.optim.SparseAdam([reference[0].weight], lr=0.01, eps=1e-12)
    dense = torch.optim.Adam(reference[1].parameters(), lr=0.01, eps=1e-12)
    for rows in BATCHES:
        sparse.zero_grad(), dense.zero_grad()
        reference[1](reference[0](torch.tensor(rows))).pow(2).sum().backward()
        sparse.step(), dense.step()
    assert torch.allclose(ours[0].weight, reference[0].weight, atol=1e-6)
    assert torch.allclose(ours[1].weight, reference[1].weight, atol=1e-6)
    untouched = [0, 4, 7, 8, 9, 10, 11]
    assert torch.equal(ours[0].weight[untouched], before[untouched])
    assert not torch.equal(ours[0].weight[[1, 2, 3, 5, 6]], before[[1, 2, 3, 5, 6]])


def test_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    table, dense = twin_parameters(True)
    optimizer = LazyAdam(list(table.parameters()) + list(dense.parameters()), lr=0.01)
    run_steps(table, dense, optimizer, BATCHES[:2])
    torch.save(optimizer.state_dict(), tmp_path / "opt.pth")
    again = LazyAdam(list(table.parameters()) + list(dense.parameters()), lr=0.01)
    again.load_state_dict(torch.load(tmp_path / "opt.pth", weights_only=True))
    saved = [p.detach().clone() for p in optimizer.param_groups[0]["params"]]
    run_steps(table, dense, optimizer, BATCHES[2:])
    continued = [p.detach().clone() for p in optimizer.param_groups[0]["params"]]
    with torch.no_grad():
        for param, value in zip(optimizer.param_groups[0]["params"], saved):
            param.copy_(value)
    run_steps(table, dense, again, BATCHES[2:])
    assert all(torch.equal(p, c) for p, c in zip(again.param_groups[0]["params"], continued))
    assert not torch.equal(continued[0], saved[0])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_pattern_dataset(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("overrides", [{"train_mode": "sequence", "sampled_softmax": {"num_samples": 8}},
                                       {"loss_type": "BPR", "train_neg_sample_args":
                                        {"distribution": "uniform", "sample_num": 2}}])
def test_sparse_adam_learns_the_pattern_with_sparse_item_gradients(overrides, data_dir, tmp_path):
    settings = small_config(data_dir, epochs=15, log_dir=str(tmp_path / "log"), dropout_prob=0.0,
                            train_batch_size=32, learner="sparse_adam", **overrides)
    result = run_gru4recf("GRU4RecF", "toy", settings, saved=False)
    assert result["test_result"]["hit@10"] > 0.6


def test_sparse_adam_with_gradient_clipping_is_a_config_error(data_dir, tmp_path):
    settings = small_config(data_dir, learner="sparse_adam", clip_grad_norm={"max_norm": 5.0})
    with pytest.raises(ConfigError, match="clip_grad_norm.*sparse_adam"):
        run_gru4recf("GRU4RecF", "toy", settings, saved=False)


def test_with_full_softmax_every_row_has_a_gradient_and_sparse_adam_trains_as_adam(data_dir, tmp_path):
    results = {}
    for learner in ("adam", "sparse_adam"):
        settings = small_config(data_dir, epochs=2, log_dir=str(tmp_path / "log"), learner=learner,
                                metric_decimal_place=6)
        results[learner] = run_gru4recf("GRU4RecF", "toy", settings, saved=False)
    assert results["sparse_adam"]["best_valid_result"] == pytest.approx(results["adam"]["best_valid_result"],
                                                                         abs=1e-5)
    assert results["sparse_adam"]["test_result"] == pytest.approx(results["adam"]["test_result"], abs=1e-5)
