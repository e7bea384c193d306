"""A model is one file: a new model written outside gru4recf and registered through the
`gru4recf.models` entry-point group (an installed dist-info) is validated, meets the model
contract, trains (or is fitted) through run_gru4recf, and is saved, loaded and asked to recommend
exactly like the built-in models."""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gru4recf import load_config, load_model, register_model, run_gru4recf
from gru4recf.errors import ConfigError
from gru4recf.models import registry
from helpers import small_config, write_pattern_dataset
from model_contract import check_model

MEAN_POOL = '''
"""MeanPool: a user's plugin model (the mean of the history's item embeddings, then a dense layer)."""
from dataclasses import dataclass

import torch
from torch import nn

from gru4recf.config import checks as c
from gru4recf.config.settings import setting
from gru4recf.models.base import SequentialRecommender, loss_type_setting
from gru4recf.models.spec import ModelSettings, ModelSpec


@dataclass(frozen=True)
class MeanPoolSettings(ModelSettings):
    title = "MeanPool"
    embedding_size: int = setting(16, c.integer(1), "Size of the item embeddings.")
    pool_dropout: float = setting(0.0, c.number(0.0, 1.0, max_open=True), "Dropout on the pooled history.")
    loss_type: str = loss_type_setting()


class MeanPool(SequentialRecommender):
    def __init__(self, n_items, embedding_size, pool_dropout, loss_type):
        super().__init__(n_items, embedding_size, loss_type)
        self.dropout = nn.Dropout(pool_dropout)
        self.dense = nn.Linear(embedding_size, embedding_size)

    @classmethod
    def build(cls, settings, catalogue):
        return cls(catalogue.n_items, settings.embedding_size, settings.pool_dropout, settings.loss_type)

    def encode(self, history, lengths):
        summed = self.item_embedding(history).sum(dim=1)  # [B, E]; padding rows embed to zero
        return self.dense(self.dropout(summed / lengths.unsqueeze(-1)))


MODEL = ModelSpec("MeanPool", MeanPoolSettings, MeanPool, "A test plugin: mean of the history's embeddings")
'''

MARKOV = '''
"""Markov: a user's fitted plugin model (counts of which item follows which in training)."""
from dataclasses import dataclass

import numpy as np
import torch

from gru4recf.config import checks as c
from gru4recf.config.settings import setting
from gru4recf.models.base import FittedRecommender
from gru4recf.models.spec import ModelSettings, ModelSpec


@dataclass(frozen=True)
class MarkovSettings(ModelSettings):
    title = "Markov"
    transition_smoothing: float = setting(0.0, c.number(0.0), "Added to every transition count.")


class Markov(FittedRecommender):
    def __init__(self, n_items, smoothing):
        super().__init__(n_items)
        self.smoothing = smoothing
        self.register_buffer("transitions", torch.zeros(n_items, n_items))

    @classmethod
    def build(cls, settings, catalogue):
        return cls(catalogue.n_items, settings.transition_smoothing)

    def fit(self, dataset, train):
        counts = np.zeros((self.n_items, self.n_items), dtype=np.float32)
        np.add.at(counts, (dataset.items[train.targets - 1], dataset.items[train.targets]), 1.0)
        self.transitions = torch.from_numpy(counts + self.smoothing)

    def full_scores(self, batch):
        last = batch.history.gather(1, (batch.lengths - 1).unsqueeze(-1)).squeeze(-1)  # [B]
        return self.transitions[last].clone()  # [B, n_items]


MODEL = ModelSpec("Markov", MarkovSettings, Markov, "A test plugin: first-order transition counts",
                  fitted=True, train_modes=())
'''


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """Two model files and a dist-info declaring them as `gru4recf.models` entry points, on sys.path."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "toy_meanpool.py").write_text(textwrap.dedent(MEAN_POOL), encoding="utf-8")
    (folder / "toy_markov.py").write_text(textwrap.dedent(MARKOV), encoding="utf-8")
    info = folder / "toy_models-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-models\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[gru4recf.models]\nMeanPool = toy_meanpool:MODEL\nMarkov = toy_markov:MODEL\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    registry.refresh()
    yield registry.models()
    monkeypatch.undo()
    registry.refresh()


def test_entry_point_models_join_the_registry_beside_the_built_in_ones(plugins):
    assert {"MeanPool", "Markov", "GRU4Rec", "GRU4RecF"} <= set(plugins)


def test_a_plugin_model_s_keys_are_validated_with_a_did_you_mean(plugins):
    with pytest.raises(ConfigError, match=r"unknown config key 'pool_dropuot' \(from config_dict\); "
                                          r"did you mean 'pool_dropout'\?"):
        load_config("MeanPool", config_dict={"pool_dropuot": 0.1})
    with pytest.raises(ConfigError, match=re.escape("'pool_dropout' has value 1.5")):
        load_config("MeanPool", config_dict={"pool_dropout": 1.5})
    assert load_config("MeanPool", config_dict={"pool_dropout": 0.25}).model_settings.pool_dropout == 0.25


def test_a_plugin_model_s_key_in_another_model_s_run_is_a_warning_naming_it(plugins):
    config = load_config("GRU4Rec", config_dict={"pool_dropout": 0.1})
    assert any("setting of model MeanPool" in w and "'GRU4Rec' does not use it" in w for w in config.warnings)
    assert "pool_dropout" not in config


def test_a_fitted_model_refuses_a_training_mode_it_has_none_of_and_a_sequence_only_mismatch(plugins):
    with pytest.raises(ConfigError, match="model 'MeanPool' does not support train_mode 'sequence'; it supports: "
                                          "'augment'"):
        load_config("MeanPool", config_dict={"train_mode": "sequence"})
    config = load_config("Markov", config_dict={"epochs": 3})
    assert any("fitted, not trained by gradients: epochs is ignored" in w for w in config.warnings)


@pytest.mark.parametrize("name", ["MeanPool", "Markov"])
def test_plugin_models_meet_the_model_contract(plugins, name, tmp_path):
    check_model(plugins[name], {}, tmp_path)


@pytest.mark.parametrize("name, floor", [("MeanPool", 0.2), ("Markov", 0.9)])
def test_plugin_models_train_save_load_and_recommend_like_built_in_ones(plugins, name, floor, tmp_path):
    data = write_pattern_dataset(tmp_path / "data")
    config = small_config(data, epochs=8, log_dir=str(tmp_path / "log"), checkpoint_dir=str(tmp_path / "saved"))
    result = run_gru4recf(name, "toy", config)
    assert result["test_result"]["hit@10"] > floor  # the next item is the last one plus 1
    (best,) = [p for p in (tmp_path / "saved").glob("*.pth") if not p.name.endswith(".last.pth")]
    recommender = load_model(best)
    top = recommender.recommend(["3", "4", "5"], k=3)
    assert len(top.items) == 3 and top.unknown == []
    if name == "Markov":
        assert top.items[0] == "6" and list((tmp_path / "saved").glob("*.last.pth")) == []


def test_register_model_adds_a_model_for_this_process(plugins, monkeypatch):
    spec = plugins["MeanPool"]
    monkeypatch.setattr(registry, "_registered", {})
    renamed = type(spec)("MeanPool2", spec.settings, spec.module, spec.summary)
    register_model(renamed)
    assert load_config("MeanPool2").model == "MeanPool2"
    with pytest.raises(ConfigError, match="'GRU4Rec' is already taken"):
        register_model(type(spec)("GRU4Rec", spec.settings, spec.module, spec.summary))


def test_a_model_key_that_reuses_a_global_key_is_refused_naming_both(plugins, monkeypatch):
    from dataclasses import dataclass

    from gru4recf.config import checks as c
    from gru4recf.config.settings import setting
    from gru4recf.models.spec import ModelSettings

    @dataclass(frozen=True)
    class Clashing(ModelSettings):
        learning_rate: float = setting(0.1, c.number(0.0), "A model's own learning rate.")

    spec = plugins["MeanPool"]
    monkeypatch.setattr(registry, "_registered", {})
    register_model(type(spec)("Clash", Clashing, spec.module, spec.summary))
    with pytest.raises(ConfigError, match="model 'Clash' declares learning_rate, which is a global configuration key"):
        load_config("GRU4Rec")


def test_a_model_s_own_defaults_for_global_keys_sit_between_the_package_and_the_user(plugins, monkeypatch):
    spec = plugins["MeanPool"]
    monkeypatch.setattr(registry, "_registered", {})
    register_model(type(spec)("Recipe", spec.settings, spec.module, spec.summary,
                              defaults={"learning_rate": 0.05, "stopping_step": 3}))
    config = load_config("Recipe")
    assert (config.learning_rate, config.sources["learning_rate"]) == (0.05, "Recipe defaults")
    assert (config.epochs, config.sources["epochs"]) == (300, "default")
    assert load_config("Recipe", config_dict={"learning_rate": 0.2}).learning_rate == 0.2
    assert load_config("MeanPool").learning_rate == 0.001  # another model keeps the package default
    register_model(type(spec)("Foreign", spec.settings, spec.module, spec.summary, defaults={"hidden_size": 8}))
    with pytest.raises(ConfigError, match="model 'Foreign' has defaults for hidden_size, which is not a global "
                                          "configuration key"):
        load_config("GRU4Rec")


def test_a_broken_or_clashing_plugin_is_named_by_its_entry_point(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "toy_broken.py").write_text("raise ImportError('needs a package that is not installed')\n")
    (folder / "toy_clash.py").write_text(textwrap.dedent(MEAN_POOL).replace('ModelSpec("MeanPool"',
                                                                            'ModelSpec("GRU4Rec"'))
    info = folder / "toy_bad-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-bad\nVersion: 0.1\n", encoding="utf-8")
    entry = info / "entry_points.txt"
    monkeypatch.syspath_prepend(str(folder))
    try:
        entry.write_text("[gru4recf.models]\nBroken = toy_broken:MODEL\n", encoding="utf-8")
        registry.refresh()
        with pytest.raises(ConfigError, match=r"cannot load model plugin entry point 'Broken = toy_broken:MODEL' of "
                                              r"distribution toy-bad: ImportError: needs a package"):
            registry.models()
        entry.write_text("[gru4recf.models]\nClash = toy_clash:MODEL\n", encoding="utf-8")
        registry.refresh()
        with pytest.raises(ConfigError, match=r"model name 'GRU4Rec' is declared twice: by module "
                                              r"gru4recf.models.gru4rec and by entry point 'Clash"):
            registry.models()
    finally:
        monkeypatch.undo()
        registry.refresh()


def test_an_entry_point_or_registration_that_is_not_a_model_spec_is_named(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "toy_not_spec.py").write_text("MODEL = 'GRU4Rec-like'\n")
    info = folder / "toy_ns-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-ns\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[gru4recf.models]\nOdd = toy_not_spec:MODEL\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    try:
        registry.refresh()
        with pytest.raises(ConfigError, match=r"entry point 'Odd = toy_not_spec:MODEL' of distribution toy-ns does "
                                              r"not name a gru4recf ModelSpec \(found str\)"):
            registry.models()
    finally:
        monkeypatch.undo()
        registry.refresh()
    with pytest.raises(ConfigError, match="register_model takes a ModelSpec, found dict"):
        register_model({"name": "X"})


def test_the_early_command_line_check_leaves_a_plugin_s_model_and_keys_to_the_full_check(plugins, tmp_path, capsys):
    """The key index only knows built-in models: with a plugin installed, `--model=MeanPool
    --pool_dropout=...` must get past the early check and be validated by the full one."""
    from gru4recf.cli import main

    args = ["--model=MeanPool", f"--data_path={tmp_path}", f"--log_dir={tmp_path / 'log'}", "--pool_dropout=1.5"]
    assert main(args) == 2
    assert "'pool_dropout' has value 1.5" in capsys.readouterr().err  # the full check's message, not 'unknown'


def test_zoo_names_a_mode_a_plugin_model_lacks(plugins, tmp_path):
    zoo = Path(__file__).resolve().parents[1] / "benchmarks" / "zoo.py"  # MeanPool has only 'augment'
    done = subprocess.run([sys.executable, str(zoo), "--models=GRU4Rec,MeanPool", "--train_mode=sequence"],
                          env={**os.environ, "PYTHONPATH": str(tmp_path / "site")}, capture_output=True, text=True)
    assert done.returncode == 2 and "--train_mode=sequence: not a mode of MeanPool" in done.stderr
