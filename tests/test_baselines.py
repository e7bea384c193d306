"""The non-neural baselines (Pop, ItemKNN, SKNN), against similarities and scores computed by hand.

Three users whose leave-one-out training sequences are A = [1, 2, 3], B = [2, 3, 4], C = [3, 5, 3]
(each user's last two items are valid and test). Item supports |S_i| (sequences holding i):
1: 1, 2: 2, 3: 3, 4: 1, 5: 1; co-occurrences: (1,2) 1, (1,3) 1, (2,3) 2, (2,4) 1, (3,4) 1, (3,5) 1.
The training targets are items 2, 3 | 3, 4 | 5, 3. Recency (SKNN) is user order: C is the newest.
"""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gru4recf import load_model, run_gru4recf
from gru4recf.data.batching import Batch
from gru4recf.data.dataset import SequenceDataset
from gru4recf.data.split import leave_one_out
from gru4recf.models.registry import models
from gru4recf.models.spec import Catalogue
from gru4recf.training.checkpoint import read_checkpoint, save_checkpoint
from helpers import small_config, write_pattern_dataset, write_session_dataset

N_ITEMS = 6  # ids 0 (padding) .. 5


def dataset() -> SequenceDataset:
    items = np.array([1, 2, 3, 4, 5, 2, 3, 4, 1, 5, 3, 5, 3, 1, 1], dtype=np.int64)
    tokens = np.array(["[PAD]"] + [str(i) for i in range(1, N_ITEMS)], dtype=object)
    return SequenceDataset("hand", np.array(["[PAD]", "u1", "u2", "u3"], dtype=object), tokens,
                           np.array([0, 5, 10, 15], dtype=np.int64), items, [])


def fitted(name: str, **values) -> torch.nn.Module:
    spec = models()[name]
    model = spec.build(spec.parse(values), Catalogue(N_ITEMS))
    data = dataset()
    model.fit(data, leave_one_out(data.user_offsets)["train"])
    return model.eval()


def scores(model, *histories) -> torch.Tensor:
    """[len(histories), N_ITEMS] scores after each history (right-padded to one width)."""
    width = max(len(h) for h in histories)
    padded = torch.tensor([list(h) + [0] * (width - len(h)) for h in histories])
    lengths = torch.tensor([len(h) for h in histories])
    return model.full_scores(Batch(padded, lengths, torch.ones(len(histories), dtype=torch.long)))


def expected(values: dict) -> torch.Tensor:
    row = torch.zeros(N_ITEMS)
    for item, value in values.items():
        row[item] = value
    return row


def test_pop_ranks_by_training_target_counts_with_ties_to_the_lower_id_for_every_history():
    model = fitted("Pop")
    assert model.counts.tolist() == [0, 0, 1, 3, 1, 1]
    result = scores(model, [1], [4, 5, 2])
    assert torch.equal(result[0], result[1])
    order = result[0, 1:].argsort(descending=True, stable=True) + 1
    assert order.tolist() == [3, 2, 4, 5, 1]  # 2, 4, 5 tie on one count each; 1 is no target
    assert result[0, 0] < result[0, 1:].min()  # padding below every item
    assert len(set(result[0].tolist())) == N_ITEMS  # no ties left for the evaluator to break


def test_itemknn_with_no_regularisation_is_the_cosine_of_the_co_occurrence_sets():
    model = fitted("ItemKNN", lmbd=0.0, alpha=0.5)
    third, half = 1 / math.sqrt(3), 2 / math.sqrt(6)
    assert torch.allclose(scores(model, [3])[0], expected({1: third, 2: half, 4: third, 5: third}))
    assert torch.allclose(scores(model, [1])[0], expected({2: 1 / math.sqrt(2), 3: third}))


def test_itemknn_regularises_supports_with_lmbd_and_weighs_them_with_alpha():
    default = fitted("ItemKNN")  # lmbd 20, alpha 0.5
    assert torch.allclose(scores(default, [2])[0, 3], torch.tensor(2 / math.sqrt(22 * 23)))
    asymmetric = fitted("ItemKNN", lmbd=0.0, alpha=1.0)  # co-occurrence / |S_last|
    assert torch.allclose(scores(asymmetric, [3])[0], expected({1: 1 / 3, 2: 2 / 3, 4: 1 / 3, 5: 1 / 3}))
    assert torch.allclose(scores(asymmetric, [2])[0], expected({1: 1 / 2, 3: 1.0, 4: 1 / 2}))


def test_itemknn_keeps_n_sims_neighbours_with_ties_to_the_lower_id():
    model = fitted("ItemKNN", lmbd=0.0, n_sims=2)
    assert torch.allclose(scores(model, [3])[0], expected({1: 1 / math.sqrt(3), 2: 2 / math.sqrt(6)}))
    assert model.neighbours.shape == (N_ITEMS, 2)


def test_itemknn_scores_from_the_last_item_only_and_never_the_item_itself():
    model = fitted("ItemKNN")
    result = scores(model, [5, 1, 3], [3], [3, 1])
    assert torch.equal(result[0], result[1]) and not torch.equal(result[0], result[2])
    assert result[1, 3] == 0
    padded = Batch(torch.tensor([[4, 2, 0, 0]]), torch.tensor([2]), torch.tensor([1]))
    assert torch.equal(model.full_scores(padded)[0], scores(model, [4, 2])[0])  # the last item, not the padding


COS_A, COS_C = 2 / math.sqrt(6), 1 / 2  # history {2, 3} against A = {1,2,3} (B alike) and C = {3,5}


def test_sknn_sums_the_cosine_similarities_of_the_neighbours_holding_each_item():
    model = fitted("SKNN")
    assert torch.allclose(scores(model, [2, 3])[0], expected({1: COS_A, 2: 2 * COS_A, 3: 2 * COS_A + COS_C,
                                                              4: COS_A, 5: COS_C}))
    assert torch.allclose(scores(model, [1])[0], expected({1: 1 / math.sqrt(3), 2: 1 / math.sqrt(3),
                                                           3: 1 / math.sqrt(3)}))  # only A shares item 1
    assert torch.equal(scores(model, [3, 2, 3, 2])[0], scores(model, [2, 3])[0])  # item sets: order, repeats


def test_sknn_keeps_the_k_most_similar_with_ties_to_the_more_recent_sequence():
    assert torch.allclose(scores(fitted("SKNN", k=1), [2, 3])[0], expected({2: COS_A, 3: COS_A, 4: COS_A}))  # B
    assert torch.allclose(scores(fitted("SKNN", k=2), [2, 3])[0], expected({1: COS_A, 2: 2 * COS_A,
                                                                           3: 2 * COS_A, 4: COS_A}))


def test_sknn_draws_neighbours_from_the_sample_size_most_recent_candidates():
    assert torch.allclose(scores(fitted("SKNN", sample_size=1), [2, 3])[0], expected({3: COS_C, 5: COS_C}))
    assert torch.allclose(scores(fitted("SKNN", sample_size=2), [2, 3])[0],
                          expected({2: COS_A, 3: COS_A + COS_C, 4: COS_A, 5: COS_C}))
    # candidates share an item with the history: the newest sequence C does not hold item 1
    assert torch.allclose(scores(fitted("SKNN", sample_size=1), [1])[0], scores(fitted("SKNN"), [1])[0])


@pytest.mark.parametrize("name, values", [("Pop", {}), ("ItemKNN", {"n_sims": 2}), ("SKNN", {"k": 2}),
                                          ("VSKNN", {"k": 2}), ("SR", {"pruning": 2}), ("STAN", {"k": 2})])
def test_fitted_arrays_saved_and_loaded_give_identical_scores(name, values, tmp_path):
    model = fitted(name, **values)
    save_checkpoint(tmp_path / "m.pth", model.state_dict(), {"model": name})
    spec = models()[name]
    fresh = spec.build(spec.parse(values), Catalogue(N_ITEMS)).eval()
    fresh.load_state_dict(read_checkpoint(tmp_path / "m.pth").state_dict)
    histories = ([2, 3], [1], [5, 4, 1])
    assert torch.equal(scores(model, *histories), scores(fresh, *histories))


@pytest.mark.parametrize("name", ["ItemKNN", "SR", "SKNN", "VSKNN", "STAN"])
def test_each_baseline_fits_tests_saves_and_recommends_end_to_end(name, tmp_path):
    data = write_pattern_dataset(tmp_path / "data")
    result = run_gru4recf(name, "toy", small_config(data, log_dir=str(tmp_path / "log"),
                                                         checkpoint_dir=str(tmp_path / "saved")))
    test = result["test_result"]
    assert {"recall@10", "mrr@10", "ndcg@10"} <= set(test) and 0 < test["recall@10"] <= 1
    final = json.loads((Path(result["results_dir"]) / "results.json").read_text())
    assert 0 <= final["fit_seconds"] < final["seconds"] and final["best_epoch"] == 0  # the fit's own time
    (best,) = (tmp_path / "saved").glob("*.pth")
    assert len(load_model(best).recommend(["3", "4", "5"], k=3).items) == 3


# V-SKNN, default weighting 'div' (w = p / n) and weighting_score 'div' (d = 1 / step):
# history [2, 3]: w(2) = 1/2, w(3) = 1; A and B share both (sim 1.5 / 2), C shares 3 (1 / 2), all at step 1.
VS_23 = {1: 0.75, 2: 1.5, 3: 2.0, 4: 0.75, 5: 0.5}
# history [3, 2]: w(3) = 1/2, w(2) = 1; A, B: 0.75 at step 1; C shares only 3: 0.5 / 2 = 0.25, at step 2 (d = 1/2).
VS_32 = {1: 0.75, 2: 1.5, 3: 1.5 + 0.125, 4: 0.75, 5: 0.125}


def test_vsknn_weighs_history_positions_and_decays_votes_by_the_step_of_the_shared_item():
    model = fitted("VSKNN")
    assert torch.allclose(scores(model, [2, 3])[0], expected(VS_23))
    assert torch.allclose(scores(model, [3, 2])[0], expected(VS_32))
    # a repeated item weighs by its last position: [3, 2, 3] is w(2) = 2/3, w(3) = 1 over 2 distinct items
    sim_ab, sim_c = (2 / 3 + 1) / 2, 1 / 2
    assert torch.allclose(scores(model, [3, 2, 3])[0], expected({1: sim_ab, 2: 2 * sim_ab, 3: 2 * sim_ab + sim_c,
                                                                 4: sim_ab, 5: sim_c}))


def test_vsknn_same_weighting_is_the_overlap_over_the_history_size():
    model = fitted("VSKNN", weighting="same", weighting_score="same")
    assert torch.allclose(scores(model, [3, 2])[0], expected({1: 1, 2: 2, 3: 2.5, 4: 1, 5: 0.5}))


def test_vsknn_idf_weighting_multiplies_each_vote_by_one_plus_weight_times_idf():
    model = fitted("VSKNN", idf_weighting=2.0)
    events = {1: 1, 2: 2, 3: 4, 4: 1, 5: 1}  # training events per item, over 3 training sequences
    assert torch.allclose(model.idf[1:], torch.tensor([math.log(3 / events[i]) for i in range(1, 6)],
                                                      dtype=torch.float64))
    assert torch.allclose(scores(model, [2, 3])[0],
                          expected({i: v * (1 + 2 * math.log(3 / events[i])) for i, v in VS_23.items()}))


def test_vsknn_keeps_k_neighbours_and_samples_the_most_recent_candidates():
    assert torch.allclose(scores(fitted("VSKNN", k=1), [2, 3])[0], expected({2: 0.75, 3: 0.75, 4: 0.75}))  # B
    assert torch.allclose(scores(fitted("VSKNN", sample_size=1), [2, 3])[0], expected({3: 0.5, 5: 0.5}))  # C


def test_vsknn_position_weights_and_score_decays_by_hand():
    from gru4recf.models.neighbours import decay as step_decay
    from gru4recf.models.vsknn import position_weight
    p, n = torch.tensor([12, 3, 2, 1]), torch.tensor(12)
    assert torch.allclose(position_weight("linear", p, n), torch.tensor([1, 0.1, 0, 0], dtype=torch.float64))
    assert torch.allclose(position_weight("quadratic", p, n), (p / 12.0).double() ** 2)
    assert torch.allclose(position_weight("log", p, n), 1 / torch.log10(torch.tensor([1.7, 10.7, 11.7, 12.7],
                                                                                       dtype=torch.float64)))
    s = torch.tensor([1, 2, 10, 11])
    assert torch.allclose(step_decay("linear", s), torch.tensor([0.9, 0.8, 0, 0], dtype=torch.float64))
    assert torch.allclose(step_decay("quadratic", s), 1 / s.double() ** 2)
    assert torch.allclose(step_decay("log", s), 1 / torch.log10(s.double() + 1.7))


def test_set_neighbours_order_recency_by_the_last_timestamp_when_the_dataset_has_times():
    spec = models()["SKNN"]
    model = spec.build(spec.parse({"sample_size": 1}), Catalogue(N_ITEMS))
    data = dataset()
    data.times = np.array([1, 2, 3, 90, 91, 10, 20, 30, 92, 93, 4, 5, 6, 94, 95], dtype=np.float64)
    model.fit(data, leave_one_out(data.user_offsets)["train"])  # training ends: A at 3, B at 30, C at 6
    assert torch.allclose(scores(model.eval(), [2, 3])[0], expected({2: COS_A, 3: COS_A, 4: COS_A}))  # B newest


def fitted_with_times(name: str, **values) -> torch.nn.Module:
    """`name` fitted on the hand dataset with timestamps (days, in seconds): the training sequences
    end at day 0 (A), 5 (B) and 10 (C)."""
    spec = models()[name]
    model = spec.build(spec.parse(values), Catalogue(N_ITEMS))
    data = dataset()
    days = np.array([-2, -1, 0, 50, 51, 3, 4, 5, 60, 61, 8, 9, 10, 70, 71], dtype=np.float64)
    data.times = days * 24 * 3600
    model.fit(data, leave_one_out(data.user_offsets)["train"])
    return model.eval()


def stan_by_hand() -> dict:
    """STAN's scores after [2, 3] with lambda_spw = 1, lambda_snh = 5 days, lambda_inh = 1."""
    e = math.exp
    # w(2) = e^-1, w(3) = 1; A and B share both items, C shares item 3; their ages: 10, 5 and 0 days
    s_a = (1 + e(-1)) / math.sqrt(3 * (1 + e(-2))) * e(-10 / 5)
    s_b = (1 + e(-1)) / math.sqrt(3 * (1 + e(-2))) * e(-5 / 5)
    s_c = 1 / math.sqrt(2 * (1 + e(-2)))
    # the shared item that comes last: 3 in A = [1, 2, 3] (position 3), B = [2, 3, 4] (2), C = [3, 5, 3] (3)
    return {1: s_a * e(-2), 2: s_a * e(-1) + s_b * e(-1), 3: s_a + s_b + s_c, 4: s_b * e(-1), 5: s_c * e(-1)}


STAN_HAND = {"lambda_spw": 1.0, "lambda_snh": 5.0, "lambda_inh": 1.0}


def test_stan_weighs_positions_recency_and_item_neighbourhood_by_hand():
    assert torch.allclose(scores(fitted_with_times("STAN", **STAN_HAND), [2, 3])[0], expected(stan_by_hand()))


@pytest.mark.parametrize("source", ["holders", "sets"])
def test_set_neighbours_read_what_they_share_from_the_holder_lists_or_the_item_sets_alike(source):
    cases = [("SKNN", {}, [2, 3], {1: COS_A, 2: 2 * COS_A, 3: 2 * COS_A + COS_C, 4: COS_A, 5: COS_C}),
             ("SKNN", {"sample_size": 2}, [2, 3], {2: COS_A, 3: COS_A + COS_C, 4: COS_A, 5: COS_C}),
             ("VSKNN", {}, [3, 2], VS_32), ("STAN", STAN_HAND, [2, 3], stan_by_hand())]
    for name, values, history, want in cases:
        model = fitted_with_times(name, **values)
        model.pair_source = source
        assert torch.allclose(scores(model, history)[0], expected(want)), (name, values)


def test_stan_without_its_three_decays_is_sknn():
    plain = fitted_with_times("STAN", lambda_spw=0.0, lambda_snh=0.0, lambda_inh=0.0, k=2)
    sknn = fitted_with_times("SKNN", k=2)
    histories = ([2, 3], [1], [5, 4, 1], [3, 3, 5])
    assert torch.allclose(scores(plain, *histories), scores(sknn, *histories))


def test_stan_keeps_the_k_nearest_after_the_recency_decay():
    model = fitted_with_times("STAN", lambda_spw=0.0, lambda_snh=5.0, lambda_inh=0.0, k=1)
    # cosines A = B = 2/sqrt(6) ~ 0.82, C = 0.5; decayed: A 0.82 e^-2 ~ 0.11, B 0.82 e^-1 ~ 0.30, C 0.5: C wins
    assert torch.allclose(scores(model, [2, 3])[0], expected({3: COS_C, 5: COS_C}))


# SR over A = [1, 2, 3], B = [2, 3, 4], C = [3, 5, 3] with weighting 'div' (1 / distance), steps 10:
# 1 -> 2: 1, 1 -> 3: 1/2 | 2 -> 3: 1 + 1, 2 -> 4: 1/2 | 3 -> 4: 1, 3 -> 5: 1, 3 -> 3: 1/2 (C repeats 3) | 5 -> 3: 1
def test_sr_weighs_rules_by_distance_and_scores_from_the_last_item():
    model = fitted("SR")
    assert torch.allclose(scores(model, [5, 2])[0], expected({3: 2.0, 4: 0.5}))
    assert torch.allclose(scores(model, [1, 3])[0], expected({3: 0.5, 4: 1.0, 5: 1.0}))
    assert torch.allclose(scores(model, [1])[0], expected({2: 1.0, 3: 0.5}))
    assert torch.equal(scores(model, [4])[0], torch.zeros(N_ITEMS))  # 4 is never followed in training


def test_sr_steps_and_weighting():
    assert torch.allclose(scores(fitted("SR", steps=1), [1])[0], expected({2: 1.0}))
    assert torch.allclose(scores(fitted("SR", weighting="same"), [1])[0], expected({2: 1.0, 3: 1.0}))
    assert torch.allclose(scores(fitted("SR", weighting="linear"), [1])[0], expected({2: 0.9, 3: 0.8}))
    assert torch.allclose(scores(fitted("SR", weighting="quadratic"), [1])[0], expected({2: 1.0, 3: 0.25}))


def test_sr_pruning_keeps_a_number_or_drops_a_share_of_each_items_rules_ties_to_the_lower_id():
    assert torch.allclose(scores(fitted("SR", pruning=1), [3])[0], expected({4: 1.0}))  # 4 and 5 tie
    half = fitted("SR", pruning=0.5)  # item 3: 3 rules, keeps 3 - int(1.5) = 2; item 1: 2 rules, keeps 1
    assert torch.allclose(scores(half, [3])[0], expected({4: 1.0, 5: 1.0}))
    assert torch.allclose(scores(half, [1])[0], expected({2: 1.0}))
    assert torch.allclose(scores(fitted("SR", pruning=0), [3])[0], expected({3: 0.5, 4: 1.0, 5: 1.0}))


@pytest.mark.parametrize("name, values", [("ItemKNN", {}), ("SR", {}), ("SKNN", {}), ("VSKNN", {}), ("STAN", {})])
def test_exclude_seen_puts_the_history_items_below_every_other_item_and_changes_nothing_else(name, values):
    plain, masked = fitted(name, **values), fitted(name, exclude_seen=True, **values)
    before, after = scores(plain, [1, 3], [2, 3, 2])[:, 1:], scores(masked, [1, 3], [2, 3, 2])[:, 1:]
    seen = torch.tensor([[1, 0, 1, 0, 0], [0, 1, 1, 0, 0]], dtype=torch.bool)  # items 1..5
    assert torch.isinf(after[seen]).all() and (after[seen] < 0).all()
    assert torch.equal(after[~seen], before[~seen])


def test_itemknn_in_blocks_of_items_gives_the_same_neighbours(monkeypatch):
    whole = fitted("ItemKNN", n_sims=2)
    monkeypatch.setattr("gru4recf.models.itemknn.WORK_PER_BLOCK", 3)  # about one item per block
    blocks = fitted("ItemKNN", n_sims=2)
    assert torch.equal(blocks.neighbours, whole.neighbours) and torch.equal(blocks.similarities, whole.similarities)


@pytest.mark.parametrize("name, key, value", [("VSKNN", "weighting", "cubic"), ("VSKNN", "weighting_score", "exp"),
                                              ("SR", "pruning", -1), ("STAN", "lambda_inh", -0.5)])
def test_a_bad_baseline_setting_is_an_error_naming_the_key(name, key, value):
    from gru4recf.errors import ConfigError
    with pytest.raises(ConfigError, match=f"'{key}' has value"):
        models()[name].parse({key: value})


@pytest.mark.parametrize("per_row", [False, True])
def test_top_entries_keeps_the_k_largest_of_every_row_with_ties_to_the_lower_column(per_row):
    import scipy.sparse as sp
    from gru4recf.models.neighbours import top_entries
    rng = np.random.default_rng(0)
    dense = rng.integers(0, 4, size=(40, 300)) * (rng.random((40, 300)) < 0.3)  # many ties, rows of 0-120 entries
    k = rng.integers(1, 12, size=40) if per_row else 5
    coo = sp.coo_matrix(dense.astype(np.float32))
    shuffled = rng.permutation(coo.nnz)  # columns out of order within rows, as a sparse product leaves them
    matrix = sp.csr_matrix((coo.data[shuffled], (coo.row[shuffled], coo.col[shuffled])), shape=coo.shape)
    rows, cols, values = top_entries(matrix, k)
    want = set()
    for row in range(40):  # by hand: sort each row's entries by (value desc, column asc), keep the first k
        entries = sorted((-dense[row, col], col) for col in np.flatnonzero(dense[row]))
        want |= {(row, col) for _, col in entries[: (k[row] if per_row else k)]}
    assert set(zip(rows.tolist(), cols.tolist())) == want
    assert np.array_equal(values, dense[rows, cols].astype(np.float32))


@pytest.mark.parametrize("name", ["ItemKNN", "SR", "SKNN", "VSKNN", "STAN"])
@pytest.mark.parametrize("exclude_seen", [False, True])
def test_neighbourhood_baselines_fit_sessions_under_a_time_split_and_predict_the_next_click(name, exclude_seen,
                                                                                           tmp_path):
    write_session_dataset(tmp_path)  # sessions walk the catalogue: after item i comes i + 1
    config = small_config(tmp_path, SESSION_ID_FIELD="session_id", topk=[20], valid_metric="MRR@20",
                          eval_args={"split": {"TS": {"valid_days": 2, "test_days": 2}}}, exclude_seen=exclude_seen,
                          log_dir=str(tmp_path / "log"), checkpoint_dir=str(tmp_path / "saved"))
    mrr = run_gru4recf(name, "toy_sessions", config)["test_result"]["mrr@20"]
    # a random ranking of the 30 items gives about 0.12; the set-based models also vote for the items
    # before the current one in a walk, which only exclude_seen takes out of the way
    assert mrr > (0.5 if exclude_seen or name in ("ItemKNN", "SR") else 0.2), mrr
