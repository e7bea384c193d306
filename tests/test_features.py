"""Dense item features: float_seq columns and item_vector_files (.npy + .tokens) become [n_items, d]
tables, checked where they enter, projected by GRU4RecF, kept by checkpoints; and the feature-driven
synthetic generator writes files that load.

Fixture tests/fixtures/dense: items i1..i4 interact (ids 1-4 in that order), i9 only has an .item
row (id 5); i2's vector cell is empty, i4 has no .item row.
"""
import logging
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from gru4recf import load_model, run_gru4recf
from gru4recf.experiment import load_config
from gru4recf.data.batching import Batch
from gru4recf.data.dataset import load_dataset
from gru4recf.data.settings import DataSettings
from gru4recf.data.features import FeatureField
from gru4recf.errors import ConfigError, DataFormatError, DatasetError
from gru4recf.models.layers import ItemFeatureEncoder
from gru4recf.models.registry import build_model
from gru4recf.training.checkpoint import read_checkpoint, save_checkpoint
from helpers import small_config, write_pattern_dataset

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
VEC = [[0, 0, 0], [1, 2, 3], [0, 0, 0], [0.5, -1, 2], [0, 0, 0], [7, 8, 9]]  # by id: PAD i1 i2 i3 i4 i9


def load(folder: Path = FIXTURES, **settings):
    return load_dataset(DataSettings("dense", str(folder), **settings))


def feature(data, name: str) -> FeatureField:
    return next(f for f in data.item_features if f.name == name)


def message(error_type, folder: Path = FIXTURES, **settings) -> str:
    with pytest.raises(error_type) as caught:
        load(folder, **settings)
    return str(caught.value)


def assert_names(text: str, *words: str) -> None:
    for word in words:
        assert word in text, f"{word!r} missing from: {text}"


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A copy of the dense fixture that a test may add files to."""
    shutil.copytree(FIXTURES / "dense", tmp_path / "dense")
    return tmp_path


def write_vectors(folder: Path, stem: str, array, tokens) -> Path:
    np.save(folder / f"{stem}.npy", np.asarray(array), allow_pickle=False)
    (folder / f"{stem}.tokens").write_text("".join(f"{t}\n" for t in tokens), encoding="utf-8")
    return folder / f"{stem}.npy"


@contextmanager
def captured_log(caplog):
    logger = logging.getLogger("gru4recf")
    logger.addHandler(caplog.handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(level)


# ---- float_seq columns ------------------------------------------------------------------------

def test_float_seq_column_becomes_an_n_items_by_d_float32_table_with_zero_rows_for_missing_vectors():
    data = load(selected_features=["vec"])
    assert data.item_tokens.tolist() == ["[PAD]", "i1", "i2", "i3", "i4", "i9"]
    vec = feature(data, "vec")
    assert (vec.kind, vec.values.dtype, vec.values.shape, vec.num_tokens) == ("float_seq", np.float32, (6, 3), 0)
    assert vec.values.tolist() == VEC  # i2: empty cell, i4: no .item row, padding: zeros


def test_token_seq_and_float_seq_features_are_selected_together_in_order():
    data = load(selected_features=["vec", "class"])
    assert [(f.name, f.kind) for f in data.item_features] == [("vec", "float_seq"), ("class", "token_seq")]
    classes = feature(data, "class")  # vocab: PAD b a c; by id: PAD, i1 'a', i2 'a b', i3 'b', i4 (no row), i9 'c'
    assert classes.values.tolist() == [2, 2, 1, 1, 3] and classes.offsets.tolist() == [0, 0, 1, 3, 4, 4, 5]


def test_vector_of_another_length_names_file_line_field_and_both_lengths(tmp_path):
    (tmp_path / "dense").mkdir()
    shutil.copy(FIXTURES / "dense" / "dense.inter", tmp_path / "dense")
    # d comes from the first non-empty cell (line 3, after an empty one); the blank line 4 still counts
    (tmp_path / "dense" / "dense.item").write_text(
        "item_id:token\tvec:float_seq\ni1\t\ni2\t1 2\n\ni3\t1 2 3\ni4\t4\n", encoding="utf-8")
    text = message(DataFormatError, tmp_path, selected_features=["vec"])
    assert_names(text, str(tmp_path / "dense" / "dense.item"), "line 5", "field 'vec'", "length 3",
                 "expected length 2", "line 3", "1 more line")


def test_a_float_seq_feature_without_any_vector_is_an_error(tmp_path):
    (tmp_path / "dense").mkdir()
    shutil.copy(FIXTURES / "dense" / "dense.inter", tmp_path / "dense")
    (tmp_path / "dense" / "dense.item").write_text("item_id:token\tvec:float_seq\ni1\t\n", encoding="utf-8")
    assert_names(message(DatasetError, tmp_path, selected_features=["vec"]), "dense.item", "'vec'", "no non-empty cell")


# ---- vectors from .npy + .tokens --------------------------------------------------------------

def test_vector_file_rows_are_placed_by_token_unknown_tokens_ignored_and_counts_logged(data_dir, caplog):
    folder = data_dir / "dense"
    write_vectors(folder, "emb", [[7, 8, 9], [0.5, -1, 2], [5, 5, 5], [1, 2, 3]], ["i9", "i3", "ghost", "i1"])
    with captured_log(caplog):
        data = load(data_dir, selected_features=["class", "emb"], item_vector_files={"emb": "emb.npy"})
    emb = feature(data, "emb")
    assert (emb.kind, emb.values.dtype) == ("float_seq", np.float32)
    assert emb.values.tolist() == VEC  # same table as the .item column
    assert data.item_tokens.tolist() == ["[PAD]", "i1", "i2", "i3", "i4", "i9"]  # 'ghost' does not join
    assert_names(caplog.text, "3 of 5 items have a vector", "2 items without one get zeros",
                 "1 tokens of the file are not in the dataset")


def test_vector_file_path_may_be_absolute_and_needs_no_item_file(tmp_path):
    (tmp_path / "data" / "dense").mkdir(parents=True)
    shutil.copy(FIXTURES / "dense" / "dense.inter", tmp_path / "data" / "dense")
    npy = write_vectors(tmp_path, "emb", np.eye(2, dtype=np.float64), ["i2", "i4"])
    data = load(tmp_path / "data", selected_features=["emb"], item_vector_files={"emb": str(npy)})
    assert feature(data, "emb").values.tolist() == [[0, 0], [0, 0], [1, 0], [0, 0], [0, 1]]


def test_unselected_vector_files_are_not_read(data_dir):
    data = load(data_dir, selected_features=["class"], item_vector_files={"emb": "absent.npy"})
    assert [f.name for f in data.item_features] == ["class"]


def test_missing_vector_file_says_where_it_looked(data_dir):
    text = message(DatasetError, data_dir, selected_features=["emb"], item_vector_files={"emb": "sub/emb.npy"})
    assert_names(text, "item_vector_files['emb']", str(data_dir / "dense" / "sub" / "emb.npy"), "does not exist",
                 f"relative path is taken from the dataset folder {data_dir / 'dense'}")


def test_missing_token_file_is_named(data_dir):
    write_vectors(data_dir / "dense", "emb", np.ones((1, 2)), ["i1"])
    (data_dir / "dense" / "emb.tokens").unlink()
    text = message(DatasetError, data_dir, selected_features=["emb"], item_vector_files={"emb": "emb.npy"})
    assert_names(text, str(data_dir / "dense" / "emb.tokens"), "does not exist", "one item token per line")


@pytest.mark.parametrize("array, words", [
    (np.ones(3), ["shape (3,)", "expected 2-D"]),
    (np.ones((2, 2, 2)), ["shape (2, 2, 2)", "expected 2-D"]),
    (np.ones((2, 0)), ["shape (2, 0)", "dimension >= 1"]),
    (np.ones((2, 2), dtype=np.int64), ["int64", "expected floats"]),
])
def test_vector_array_must_be_2d_floats(data_dir, array, words):
    write_vectors(data_dir / "dense", "emb", array, ["i1", "i2"])
    text = message(DataFormatError, data_dir, selected_features=["emb"], item_vector_files={"emb": "emb.npy"})
    assert_names(text, str(data_dir / "dense" / "emb.npy"), *words)


def test_pickled_or_non_npy_vector_files_are_refused_without_unpickling(data_dir):
    folder = data_dir / "dense"
    np.save(folder / "emb.npy", np.array([[1.0], ["x"]], dtype=object), allow_pickle=True)
    (folder / "emb.tokens").write_text("i1\ni2\n", encoding="utf-8")
    text = message(DataFormatError, data_dir, selected_features=["emb"], item_vector_files={"emb": "emb.npy"})
    assert_names(text, str(folder / "emb.npy"), "not a readable .npy array", "numpy.save")
    np.savez(folder / "emb.npy", a=np.ones((2, 2)))  # an archive under a .npy name
    (folder / "emb.npy.npz").replace(folder / "emb.npy")
    text = message(DataFormatError, data_dir, selected_features=["emb"], item_vector_files={"emb": "emb.npy"})
    assert_names(text, ".npz archive")


def test_token_count_must_equal_row_count_naming_both_files(data_dir):
    write_vectors(data_dir / "dense", "emb", np.ones((3, 2)), ["i1", "i2"])
    text = message(DataFormatError, data_dir, selected_features=["emb"], item_vector_files={"emb": "emb.npy"})
    assert_names(text, str(data_dir / "dense" / "emb.npy"), "3 rows", str(data_dir / "dense" / "emb.tokens"),
                 "2 tokens")


def test_duplicate_token_is_named_with_its_lines(data_dir):
    write_vectors(data_dir / "dense", "emb", np.ones((3, 2)), ["i1", "i2", "i1"])
    text = message(DataFormatError, data_dir, selected_features=["emb"], item_vector_files={"emb": "emb.npy"})
    assert_names(text, "emb.tokens", "'i1'", "line 1", "line 3")


def test_empty_token_line_is_named(data_dir):
    write_vectors(data_dir / "dense", "emb", np.ones((2, 2)), ["i1", ""])
    text = message(DataFormatError, data_dir, selected_features=["emb"], item_vector_files={"emb": "emb.npy"})
    assert_names(text, "emb.tokens", "line 2 is empty")


def test_non_finite_vector_of_a_dataset_item_is_named(data_dir):
    write_vectors(data_dir / "dense", "emb", [[1.0, 2.0], [np.nan, 0.0]], ["i1", "i3"])
    text = message(DataFormatError, data_dir, selected_features=["emb"], item_vector_files={"emb": "emb.npy"})
    assert_names(text, "emb.npy", "row 1", "'i3'", "not a finite number")


def test_vector_feature_named_like_an_item_column_is_refused(data_dir):
    write_vectors(data_dir / "dense", "emb", np.ones((1, 2)), ["i1"])
    text = message(DatasetError, data_dir, selected_features=["class"], item_vector_files={"vec": "emb.npy"})
    assert_names(text, "item_vector_files", "'vec'", str(data_dir / "dense" / "dense.item"), "another name")


def test_unknown_selected_feature_lists_item_columns_and_vector_features(data_dir):
    write_vectors(data_dir / "dense", "emb", np.ones((1, 2)), ["i1"])
    text = message(DatasetError, data_dir, selected_features=["emb", "img"], item_vector_files={"emb": "emb.npy"})
    assert_names(text, "'img'", "class, vec", "item_vector_files features: emb")


@pytest.mark.parametrize("value, words", [
    ("['a.npy']", ["'item_vector_files'", "a mapping"]),
    ({"emb": 3}, ["'item_vector_files.emb'", "path of a .npy file"]),
    ({"emb": ""}, ["'item_vector_files.emb'", "path of a .npy file"]),
    ({1: "a.npy"}, ["'item_vector_files'", "feature name 1"]),
])
def test_item_vector_files_option_is_checked(value, words):
    with pytest.raises(ConfigError) as caught:
        load_config("GRU4RecF", "dense", config_dict={"item_vector_files": value})
    assert_names(str(caught.value), *words)


def test_item_vector_files_option_is_read_from_the_command_line():
    config = load_config("GRU4RecF", "dense", cli_args={"item_vector_files": "{'emb': 'emb.npy'}"})
    assert config.item_vector_files == {"emb": "emb.npy"}
    assert config.section(DataSettings).item_vector_files == {"emb": "emb.npy"}


# ---- the model ----------------------------------------------------------------------------------

def dense_fields() -> list:
    classes = [[], [1], [1], [2], [], [3]]
    return [FeatureField.from_token_lists("class", classes, np.array(["[PAD]", "a", "b", "c"], dtype=object)),
            FeatureField("vec", "float_seq", np.array(VEC, dtype=np.float32))]


MODEL_CONFIG = {"embedding_size": 8, "hidden_size": 6, "num_layers": 1, "dropout_prob": 0.0, "pooling_mode": "sum",
                "loss_type": "CE", "selected_features": ["class", "vec"], "MAX_ITEM_LIST_LENGTH": 5}


def test_encoder_projects_vectors_beside_pooled_tokens():
    torch.manual_seed(0)
    encoder = ItemFeatureEncoder(dense_fields(), embedding_size=8, pooling_mode="sum")
    projection = encoder.encoders[1]
    assert (projection.in_features, projection.out_features, projection.bias) == (3, 8, None)
    items = torch.tensor([[1, 3, 2, 0], [5, 4, 1, 1]])  # [B=2, L=4]
    out = encoder(items)
    assert out.shape == (2, 4, 16)  # two features of embedding_size 8
    table = torch.tensor(VEC, dtype=torch.float32)
    assert torch.allclose(out[..., 8:], table[items] @ projection.weight.T)
    assert torch.equal(out[0, 2, 8:], torch.zeros(8)) and torch.equal(out[1, 1, 8:], torch.zeros(8))  # no vector


def test_one_training_step_with_a_float_seq_feature_updates_the_projection():
    torch.manual_seed(0)
    model = build_model("GRU4RecF", MODEL_CONFIG, 6, dense_fields())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    before = model.features.encoders[1].weight.detach().clone()
    history, lengths = torch.tensor([[1, 2, 3], [5, 1, 0]]), torch.tensor([3, 2])
    loss = torch.nn.functional.cross_entropy(model.encode(history, lengths) @ model.item_embedding.weight.T,
                                             torch.tensor([4, 3]))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert not torch.equal(model.features.encoders[1].weight, before)


def test_checkpoint_keeps_the_vector_table_and_load_model_scores_the_same(tmp_path):
    torch.manual_seed(0)
    model = build_model("GRU4RecF", MODEL_CONFIG, 6, dense_fields()).eval()
    tokens = ["[PAD]", "i1", "i2", "i3", "i4", "i9"]
    save_checkpoint(tmp_path / "m.pth", model.state_dict(), {"model": "GRU4RecF", "config": MODEL_CONFIG},
                    tokens, dense_fields())
    (_, vec) = read_checkpoint(tmp_path / "m.pth").feature_fields()
    assert (vec.name, vec.kind, vec.vocab, vec.values.dtype) == ("vec", "float_seq", None, np.float32)
    assert np.array_equal(vec.values, np.array(VEC, dtype=np.float32))
    recommender = load_model(tmp_path / "m.pth")
    history = torch.tensor([[1, 3]])
    scores = model.full_scores(Batch(history, torch.tensor([2]), torch.tensor([0])))
    assert torch.equal(recommender.scores([[1, 3]])[:, 1:], scores[:, 1:])
    assert len(recommender.recommend(["i1", "i3"], k=3).items) == 3


def test_training_run_with_a_vector_file_gives_a_usable_checkpoint(tmp_path):
    data_dir = write_pattern_dataset(tmp_path / "data", n_users=20, n_items=12, length=6)
    tokens = [str(item) for item in range(12)]
    write_vectors(data_dir / "toy", "emb", np.random.default_rng(0).normal(size=(12, 4)), tokens)
    config = small_config(data_dir, dataset="toy", epochs=1, state="WARNING", log_dir=str(tmp_path / "log"),
                          checkpoint_dir=str(tmp_path / "saved"), selected_features=["class", "emb"],
                          item_vector_files={"emb": "emb.npy"})
    result = run_gru4recf("GRU4RecF", "toy", config)
    assert np.isfinite(result["best_valid_score"])
    (best,) = [p for p in (tmp_path / "saved").glob("*.pth") if not p.name.endswith(".last.pth")]
    names = [(f.name, f.kind, f.n_items) for f in read_checkpoint(best).feature_fields()]
    assert names == [("class", "token_seq", 14), ("emb", "float_seq", 14)]  # 12 items, '999', padding
    assert len(load_model(best).recommend(["3", "4"], k=5).items) == 5


# ---- the feature-driven synthetic generator ---------------------------------------------------

@pytest.fixture(scope="module")
def make_feature_synthetic():
    sys.path.insert(0, str(BENCHMARKS))
    import make_feature_synthetic as module
    return module


TINY = {"users": 30, "items": 60, "classes": 4, "min_length": 5, "max_length": 8, "dim": 4, "seed": 3}


def test_generated_feature_dataset_loads_with_class_vec_and_the_vector_file(tmp_path, make_feature_synthetic):
    make_feature_synthetic.generate(tmp_path, "fs", **TINY)
    data = load_dataset(DataSettings("fs", str(tmp_path), selected_features=["class", "vec", "emb"],
                                     item_vector_files={"emb": "fs_vec.npy"}))
    assert data.n_users == 31 and data.n_items == 61  # every item has an .item row, padding included
    assert 30 * 5 <= data.n_interactions <= 30 * 8
    assert np.diff(data.user_offsets)[1:].min() >= 5  # padding user 0 has none
    vec, emb = feature(data, "vec"), feature(data, "emb")
    assert vec.values.shape == (61, 4) and np.abs(vec.values[1:]).sum(axis=1).min() > 0
    assert np.allclose(vec.values, emb.values, atol=1e-6)  # the .npy holds the same vectors


def test_generated_next_items_follow_the_class_chain(tmp_path, make_feature_synthetic):
    settings = dict(TINY, users=400, min_length=20, max_length=20)
    make_feature_synthetic.generate(tmp_path, "fs", **settings)
    data = load_dataset(DataSettings("fs", str(tmp_path), selected_features=["class"]))
    classes = feature(data, "class")
    first_class = classes.values[classes.offsets[:-1]]  # the class token comes first (every item has one)
    world = make_feature_synthetic.make_world(np.random.default_rng(3), 60, 4, 3, 4, 1.0, 0.5)
    class_of_id = np.array([int(t[1:]) for t in feature(data, "class").vocab[1:]])[first_class[data.items] - 1]
    steps = np.ones(len(data.items), bool)
    steps[data.user_offsets[:-1]] = False  # a user's first event has no predecessor
    pairs = np.stack([class_of_id[:-1], class_of_id[1:]], axis=1)[steps[1:]]
    counts = np.zeros((4, 4))
    np.add.at(counts, (pairs[:, 0], pairs[:, 1]), 1)
    assert np.abs(counts / counts.sum(axis=1, keepdims=True) - world.transitions).max() < 0.05


def test_the_same_seed_writes_the_same_feature_dataset(tmp_path, make_feature_synthetic):
    first = make_feature_synthetic.generate(tmp_path / "a", "fs", **TINY)
    second = make_feature_synthetic.generate(tmp_path / "b", "fs", **TINY)
    for name in ("fs.inter", "fs.item", "fs_vec.npy", "fs_vec.tokens"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_generator_refuses_impossible_settings(make_feature_synthetic, capsys):
    assert make_feature_synthetic.main(["--items=3", "--classes=5", "--out=/nonexistent/never"]) == 2
    assert "items >= classes" in capsys.readouterr().err
