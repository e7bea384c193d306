"""Using a trained model without its dataset: load_model(path).recommend(...) and `gru4recf recommend`
give the trainer's own full-ranking scores for the same history."""
import shutil

import numpy as np
import pytest
import torch

from gru4recf import load_model, run_gru4recf
from gru4recf.cli import main
from gru4recf.experiment import load_config
from gru4recf.errors import RecommendError
from gru4recf.models.registry import build_model
from gru4recf.experiment import load_data, make_batches
from gru4recf.training.checkpoint import load_checkpoint
from gru4recf.evaluation.metrics import compute_metrics
from helpers import small_config, write_pattern_dataset

PREFIX = "gru4recf: error:"




@pytest.fixture(scope="module", params=["GRU4RecF", "GRU4Rec"])
def trained(request, tmp_path_factory):
    """(config, result, best checkpoint) of a short run."""
    tmp_path = tmp_path_factory.mktemp("trained")
    data_dir = write_pattern_dataset(tmp_path / "data", n_users=40, length=10)
    config = small_config(data_dir, dataset="toy", epochs=3, log_dir=str(tmp_path / "log"),
                          checkpoint_dir=str(tmp_path / "saved"), state="WARNING")
    result = run_gru4recf(request.param, "toy", config)
    (best,) = [p for p in (tmp_path / "saved").glob("*.pth") if not p.name.endswith(".last.pth")]
    return load_config(request.param, "toy", config_dict=config), result, best


def test_recommend_reproduces_the_trainers_test_metrics(trained):
    config, result, best = trained
    data = load_data(config)
    dataset, test = data.dataset, data.splits["test"]
    sessions = [dataset.item_tokens[dataset.items[start:target]].tolist()
                for start, target in zip(test.starts, test.targets)]
    targets = dataset.item_tokens[dataset.items[test.targets]].tolist()
    k = max(config.topk)
    recommendations = load_model(best).recommend_batch(sessions, k=k)
    ranks = torch.tensor([rec.items.index(target) + 1 if target in rec.items else 0
                          for rec, target in zip(recommendations, targets)])
    assert compute_metrics(ranks, config.metrics, config.topk, config.metric_decimal_place) == result["test_result"]


def test_scores_equal_the_trainers_full_ranking_scores(trained):
    config, _, best = trained
    data = load_data(config)
    dataset = data.dataset
    state, _ = load_checkpoint(best)
    net = build_model(config.model, config, dataset.n_items, dataset.item_features)
    net.load_state_dict(state)
    net.eval()
    recommender = load_model(best)
    for batch in make_batches(config, data, None).test:
        with torch.no_grad():
            expected = net.full_scores(batch)[:, 1:]  # [B, n_items - 1]
        histories = [row[:length].tolist() for row, length in zip(batch.history, batch.lengths)]
        assert torch.equal(recommender.scores(histories)[:, 1:], expected)
        tokens = [dataset.item_tokens[h].tolist() for h in histories]
        for rec, row in zip(recommender.recommend_batch(tokens, k=5), expected):
            assert rec.items == dataset.item_tokens[1 + row.topk(5).indices.numpy()].tolist()


def test_model_is_rebuilt_from_the_checkpoint_alone(trained, tmp_path):
    _, _, best = trained
    alone = shutil.copy(best, tmp_path / "model.pth")
    data, hidden = best.parent.parent / "data", tmp_path / "hidden"
    shutil.move(data, hidden)  # the dataset is gone while the model is loaded and used
    try:
        recommender = load_model(alone)
        recommendation = recommender.recommend(["3", "4", "5"], k=3)
    finally:
        shutil.move(hidden, data)
    assert recommender.n_items == 31  # 30 pattern items and '999', which has no .item row
    assert len(recommendation.items) == 3 and recommendation.unknown == []
    assert recommendation.scores == sorted(recommendation.scores, reverse=True)


def test_last_checkpoint_is_a_usable_model_too(trained):
    _, _, best = trained
    last = best.with_name(best.name[:-4] + ".last.pth")
    assert load_model(last).recommend(["1"], k=2).items


def test_unknown_items_are_reported_and_skipped(trained):
    recommender = load_model(trained[2])
    with_unknown = recommender.recommend(["nope", "3", 4, "[PAD]"], k=5)
    assert with_unknown.unknown == ["nope", "[PAD]"]
    assert with_unknown.items == recommender.recommend(["3", "4"], k=5).items  # ints are tokens too
    only_unknown = recommender.recommend(["nope"], k=5)
    assert (only_unknown.items, only_unknown.scores, only_unknown.unknown) == ([], [], ["nope"])


def test_batch_form_equals_one_session_at_a_time(trained):
    recommender = load_model(trained[2])
    sessions = [["1", "2"], ["zz"], ["7", "8", "9", "10", "11", "12", "13"], []]
    batch = recommender.recommend_batch(sessions, k=4, batch_size=2)
    single = [recommender.recommend(s, k=4) for s in sessions]
    assert [b.items for b in batch] == [s.items for s in single]
    assert np.allclose([x for b in batch for x in b.scores], [x for s in single for x in s.scores], atol=1e-6)


def test_exclude_seen_leaves_out_the_sessions_items(trained):
    recommender = load_model(trained[2])
    session = ["1", "2", "3"]
    top = recommender.recommend(session, k=30, exclude_seen=True)
    assert not set(session) & set(top.items) and len(top.items) == 28
    everything = recommender.recommend(session, k=100)
    assert len(everything.items) == recommender.n_items and "[PAD]" not in everything.items


@pytest.mark.parametrize("k", [0, -1, 2.5, "10", True])
def test_k_must_be_a_positive_integer(trained, k):
    with pytest.raises(RecommendError, match="k must be a positive integer"):
        load_model(trained[2]).recommend(["1"], k=k)


def test_a_string_is_not_a_session(trained):
    with pytest.raises(RecommendError, match="list of item tokens"):
        load_model(trained[2]).recommend("1 2 3")
    with pytest.raises(RecommendError, match="list of sessions"):
        load_model(trained[2]).recommend_batch(["1", "2"])


def test_loading_leaves_the_callers_random_state_alone(trained):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_model(trained[2])
    assert torch.equal(torch.rand(3), expected)


# ---- the command -------------------------------------------------------------------------------------

def test_recommend_command_prints_top_k_items_with_scores(trained, capsys):
    best = trained[2]
    expected = load_model(best).recommend(["3", "4"], k=3)
    assert main(["recommend", f"--checkpoint={best}", "--items", "3", "4", "--k=3"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "rank\titem\tscore" and len(lines) == 4
    assert [line.split("\t")[1] for line in lines[1:]] == expected.items
    assert [float(line.split("\t")[2]) for line in lines[1:]] == pytest.approx(expected.scores, abs=1e-5)
    assert err == ""


def test_recommend_command_reports_unknown_items_on_stderr(trained, capsys):
    assert main(["recommend", f"--checkpoint={trained[2]}", "--items=3 nope", "--k=2"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 3 and "unknown item ids ignored: nope" in err


def test_recommend_command_reads_a_sessions_file(trained, tmp_path, capsys):
    sessions = tmp_path / "sessions.txt"
    sessions.write_text("3 4\nnope\n7\t8\n", encoding="utf-8")
    assert main(["recommend", f"--checkpoint={trained[2]}", f"--sessions_file={sessions}", "--k=2"]) == 0
    out, err = capsys.readouterr()
    rows = [line.split("\t") for line in out.splitlines()[1:]]
    assert [row[:2] for row in rows] == [["1", "1"], ["1", "2"], ["3", "1"], ["3", "2"]]
    assert "line 2: unknown item ids ignored: nope" in err


@pytest.mark.parametrize("args, words", [
    (["--checkpoint=missing.pth", "--items=1"], ["missing.pth", "does not exist"]),
    (["--items=1"], ["--checkpoint"]),
    (["--checkpoint=CKPT", "--items=nope"], ["none of the given item ids"]),
    (["--checkpoint=CKPT", "--items=1", "--k=0"], ["k must be a positive integer"]),
    (["--checkpoint=CKPT", "--items=1", "--k=ten"], ["--k", "'ten'"]),
    (["--checkpoint=CKPT", "--sessions_file=missing.txt"], ["missing.txt"]),
])
def test_recommend_command_errors_are_one_line_with_status_2(trained, args, words, capsys):
    args = [arg.replace("CKPT", str(trained[2])) for arg in args]
    assert main(["recommend", *args]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith(PREFIX)]
    assert len(lines) == 1 and err.splitlines()[-1] == lines[0] and "Traceback" not in err
    assert all(word in lines[0] for word in words), lines[0]
