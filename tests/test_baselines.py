"""The non-neural baselines (Pop, ItemKNN, SKNN), against similarities and scores computed by hand.

Three users whose leave-one-out training sequences are A = [1, 2, 3], B = [2, 3, 4], C = [3, 5, 3]
(each user's last two items are valid and test). Item supports |S_i| (sequences holding i):
1: 1, 2: 2, 3: 3, 4: 1, 5: 1; co-occurrences: (1,2) 1, (1,3) 1, (2,3) 2, (2,4) 1, (3,4) 1, (3,5) 1.
The training targets are items 2, 3 | 3, 4 | 5, 3. Recency (SKNN) is user order: C is the newest.
"""
import math

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
from helpers import small_config, write_pattern_dataset

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


@pytest.mark.parametrize("name, values", [("Pop", {}), ("ItemKNN", {"n_sims": 2}), ("SKNN", {"k": 2})])
def test_fitted_arrays_saved_and_loaded_give_identical_scores(name, values, tmp_path):
    model = fitted(name, **values)
    save_checkpoint(tmp_path / "m.pth", model.state_dict(), {"model": name})
    spec = models()[name]
    fresh = spec.build(spec.parse(values), Catalogue(N_ITEMS)).eval()
    fresh.load_state_dict(read_checkpoint(tmp_path / "m.pth").state_dict)
    histories = ([2, 3], [1], [5, 4, 1])
    assert torch.equal(scores(model, *histories), scores(fresh, *histories))


def test_itemknn_fits_tests_saves_and_recommends_end_to_end(tmp_path):
    data = write_pattern_dataset(tmp_path / "data")
    result = run_gru4recf("ItemKNN", "toy", small_config(data, log_dir=str(tmp_path / "log"),
                                                         checkpoint_dir=str(tmp_path / "saved")))
    test = result["test_result"]
    assert {"recall@10", "mrr@10", "ndcg@10"} <= set(test) and 0 < test["recall@10"] <= 1
    (best,) = (tmp_path / "saved").glob("*.pth")
    assert len(load_model(best).recommend(["3", "4", "5"], k=3).items) == 3
