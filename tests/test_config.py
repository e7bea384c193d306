"""Configuration: layers merge in a fixed order, values are parsed safely, every bad key or value
fails with a ConfigError that names the key (and where it came from), and the result is read-only."""

import re
from pathlib import Path

import pytest
import yaml

from gru4recf.config import Config, parse_cli_args
from gru4recf.experiment import load_config
from gru4recf.errors import ConfigError


def write_yaml(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- merge order -------------------------------------------------------------------------------

def test_layers_merge_in_order_default_model_dataset_files_dict_cli(tmp_path):
    first = write_yaml(tmp_path / "first.yaml",
                       "hidden_size: 16\nnum_layers: 2\nepochs: 5\nlearning_rate: 0.5\nseed: 1\n")
    second = write_yaml(tmp_path / "second.yaml", "num_layers: 3\nepochs: 6\nlearning_rate: 0.25\n")
    config = load_config("GRU4RecF", "ml-100k", [first, second],
                         {"epochs": 7, "learning_rate": 0.125}, {"learning_rate": 0.0625})

    expected = {
        "eval_step": (1, "default"),                         # package default only
        "stopping_step": (5, "GRU4RecF defaults"),           # the model's recipe over package default
        "embedding_size": (64, "GRU4RecF defaults"),         # model YAML over package default
        "TIME_FIELD": ("timestamp", "ml-100k defaults"),     # dataset YAML
        "seed": (1, first),                                  # only the first file sets it
        "hidden_size": (16, first),                          # file over model defaults
        "num_layers": (3, second),                           # later file wins
        "epochs": (7, "config_dict"),                        # config_dict over files
        "learning_rate": (0.0625, "command line"),           # cli over everything
    }
    got = {key: (config[key], config.sources[key]) for key in expected}
    assert got == expected


def test_dataset_defaults_override_model_defaults(monkeypatch):
    # The shipped dataset YAML sets no model key, so a stand-in layer shows the precedence.
    from gru4recf.config import loader

    fake = {("datasets", "ml-100k"): {"hidden_size": 24}}
    monkeypatch.setattr(loader, "_packaged_defaults", lambda kind, name: dict(fake.get((kind, name), {})))
    config = load_config("GRU4RecF", "ml-100k")
    assert (config.hidden_size, config.sources["hidden_size"]) == (24, "ml-100k defaults")
    assert (config.num_layers, config.sources["num_layers"]) == (1, "GRU4RecF defaults")


def test_model_and_dataset_can_come_from_a_config_file(tmp_path):
    path = write_yaml(tmp_path / "run.yaml", "model: GRU4Rec\ndataset: other\n")
    config = load_config(config_file_list=[path])
    assert (config.model, config.dataset) == ("GRU4Rec", "other")
    assert config.sources["embedding_size"] == "GRU4Rec defaults"


def test_each_model_has_its_own_keys_and_defaults():
    gru4recf = load_config("GRU4RecF", "ml-100k")
    gru4rec = load_config("GRU4Rec", "ml-100k")
    assert gru4recf.sources["selected_features"] == "GRU4RecF defaults"
    assert "selected_features" not in gru4rec and "pooling_mode" not in gru4rec  # GRU4Rec reads no features
    assert gru4rec.sources["hidden_size"] == "GRU4Rec defaults"
    assert gru4recf.model_settings.item_features() == ["class"] and gru4rec.model_settings.item_features() == []


# --- safe parsing -------------------------------------------------------------------------------

def test_yaml_exponent_without_dot_is_a_float(tmp_path):
    path = write_yaml(tmp_path / "lr.yaml", "learning_rate: 1e-3\nweight_decay: 1E-4\n")
    config = load_config(config_file_list=[path])
    assert config.learning_rate == 0.001 and isinstance(config.learning_rate, float)
    assert config.weight_decay == pytest.approx(1e-4)


def test_yaml_python_tags_are_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "hacked"
    path = write_yaml(tmp_path / "evil.yaml",
                      f'epochs: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ConfigError, match=re.escape(path)):
        load_config(config_file_list=[path])
    assert not marker.exists()


def test_yaml_that_is_not_a_mapping_names_the_file(tmp_path):
    path = write_yaml(tmp_path / "list.yaml", "- epochs\n- 3\n")
    with pytest.raises(ConfigError, match=re.escape(path) + ".*mapping"):
        load_config(config_file_list=[path])


def test_missing_config_file_names_the_file(tmp_path):
    path = str(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="cannot read config file " + re.escape(path)):
        load_config(config_file_list=[path])


def test_cli_values_are_literals_with_text_fallback():
    parsed = parse_cli_args(["--epochs=3", "--topk=[5, 10]", "--learner=SGD",
                             "--eval_args={'split': {'RS': [0.8,0.1,0.1]}}", "--data_path=/tmp/a=b"])
    assert parsed == {"epochs": 3, "topk": [5, 10], "learner": "SGD",
                      "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}}, "data_path": "/tmp/a=b"}


@pytest.mark.parametrize("arg", ["--epochs", "epochs=3"])
def test_cli_arg_not_of_form_key_value_is_named(arg):
    with pytest.raises(ConfigError, match=re.escape(repr(arg)) + ".*--key=value or --key value"):
        parse_cli_args([arg])


def test_cli_values_may_follow_their_key_as_the_next_argument():
    assert parse_cli_args(["--learning_rate", "0.01", "--topk", "[5, 10]", "--epochs=3", "--seed", "-1"]) == \
        {"learning_rate": 0.01, "topk": [5, 10], "epochs": 3, "seed": -1}
    with pytest.raises(ConfigError, match="'--epochs' is not of the form"):
        parse_cli_args(["--epochs", "--seed=1"])


def test_unhashable_literal_is_a_config_error_not_a_type_error():
    with pytest.raises(ConfigError, match="'topk'"):
        load_config(config_dict={"topk": "{[1]: 2}"})


# --- unknown keys -------------------------------------------------------------------------------

def test_misspelt_key_in_config_dict_suggests_the_right_one():
    with pytest.raises(ConfigError, match=r"unknown config key 'learing_rate' \(from config_dict\); "
                                          r"did you mean 'learning_rate'\?"):
        load_config(config_dict={"learing_rate": 0.1})


def test_misspelt_key_in_file_names_the_file(tmp_path):
    path = write_yaml(tmp_path / "typo.yaml", "learing_rate: 0.1\n")
    with pytest.raises(ConfigError, match=rf"unknown config key 'learing_rate' \(from {re.escape(path)}\)"
                                          r".*did you mean 'learning_rate'"):
        load_config(config_file_list=[path])


def test_misspelt_key_on_command_line_is_named():
    with pytest.raises(ConfigError, match=r"'learing_rate' \(from command line\).*'learning_rate'"):
        load_config(cli_args=parse_cli_args(["--learing_rate=0.1"]))


# --- wrong types and ranges ----------------------------------------------------------------------

BAD_VALUES = [
    pytest.param({"epochs": -1}, ["'epochs'", "-1", ">= 1"], id="epochs=-1"),
    pytest.param({"epochs": "abc"}, ["'epochs'", "'abc'", "integer"], id="epochs=abc"),
    pytest.param({"dropout_prob": 1.0}, ["'dropout_prob'", "1.0", "[0.0, 1.0)"], id="dropout=1.0"),
    pytest.param({"dropout_prob": -0.1}, ["'dropout_prob'", "-0.1", "[0.0, 1.0)"], id="dropout=-0.1"),
    pytest.param({"pooling_mode": "avg"}, ["'pooling_mode'", "'avg'", "'sum', 'mean', 'max'"], id="pooling"),
    pytest.param({"loss_type": "XE"}, ["'loss_type'", "'XE'", "'CE', 'BPR'"], id="loss_type"),
    pytest.param({"learner": "adamw"}, ["'learner'", "'adamw'", "'adam', 'sgd', 'adagrad', 'rmsprop'"],
                 id="learner"),
    pytest.param({"topk": 0}, ["'topk'", "0", ">= 1"], id="topk=0"),
    pytest.param({"metrics": ["AUC"]}, ["'metrics'", "'AUC'", "'Recall'", "'NDCG'"], id="metrics"),
    pytest.param({"valid_metric": "NDCG@20", "topk": [10]},
                 ["'valid_metric'", "'NDCG@20'", "Recall@10, MRR@10, NDCG@10, Hit@10, Precision@10"],
                 id="valid_metric-not-computed"),
    pytest.param({"field_separator": ",,"}, ["'field_separator'", "',,'", "one character"], id="separator"),
    pytest.param({"eval_args": {"order": "RO"}}, ["'eval_args.order'", "'RO'", "'TO'"], id="order=RO"),
    pytest.param({"eval_args": {"split": {"RS": [0.8, 0.1]}}}, ["'eval_args.split.RS'", "[0.8, 0.1]", "three"],
                 id="split-two-ratios"),
    pytest.param({"train_neg_sample_args": {"distribution": "zipf"}},
                 ["'train_neg_sample_args.distribution'", "'zipf'", "'uniform', 'popularity'"], id="zipf"),
    pytest.param({"clip_grad_norm": {"foo": 1}}, ["'clip_grad_norm'", "{'foo': 1}", "max_norm"], id="clip"),
    pytest.param({"user_inter_num_interval": "[5,inf"}, ["'user_inter_num_interval'", "'[5,inf'", "interval"],
                 id="interval"),
]


@pytest.mark.parametrize("given, words", BAD_VALUES)
def test_bad_value_names_key_value_and_what_is_allowed(given, words):
    with pytest.raises(ConfigError) as error:
        load_config(config_dict=given)
    message = str(error.value)
    assert all(word in message for word in words), message


def test_unknown_model_lists_the_available_ones():
    with pytest.raises(ConfigError, match="'model' has value 'SASRecc'.*'GRU4Rec', 'GRU4RecF'.*'SASRec'"):
        load_config("SASRecc", "ml-100k")


# --- normalisation ------------------------------------------------------------------------------

def test_values_are_normalised():
    config = load_config(config_dict={
        "learner": "Adam", "loss_type": "ce", "metrics": ["recall", "ndcg"], "topk": 10,
        "valid_metric": "ndcg@10", "epochs": "3", "learning_rate": "1e-3"})
    assert config.learner == "adam"
    assert config.loss_type == "CE"
    assert config.metrics == ["Recall", "NDCG"]
    assert config.topk == [10]
    assert config.valid_metric == "NDCG@10"
    assert (config.epochs, config.learning_rate) == (3, 0.001)


def test_topk_is_sorted_and_deduplicated():
    assert load_config(config_dict={"topk": [20, 5, 10, 5]}).topk == [5, 10, 20]


def test_valid_metric_case_is_normalised():
    assert load_config(config_dict={"valid_metric": "mrr@10"}).valid_metric == "MRR@10"


def test_partial_eval_args_are_filled_with_defaults():
    config = load_config(config_dict={"eval_args": {"split": {"RS": [8, 1, 1]}}})
    assert config.eval_args == {"split": {"RS": [8.0, 1.0, 1.0]}, "order": "TO", "mode": "full",
                                "group_by": "user"}


# --- negative sampling --------------------------------------------------------------------------

def test_ce_drops_default_negative_sampling_silently():
    config = load_config(config_dict={"loss_type": "CE"})
    assert config.train_neg_sample_args is None
    assert config.warnings == []


def test_ce_drops_explicit_negative_sampling_with_a_warning():
    config = load_config(config_dict={"loss_type": "CE",
                                      "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}})
    assert config.train_neg_sample_args is None
    assert len(config.warnings) == 1
    assert "train_neg_sample_args" in config.warnings[0] and "ignored" in config.warnings[0]


def test_bpr_gets_uniform_negatives_by_default():
    config = load_config(config_dict={"loss_type": "BPR"})
    assert config.train_neg_sample_args == {"distribution": "uniform", "sample_num": 1, "alpha": 1.0}
    assert config.warnings == []


def test_bpr_without_negatives_fails():
    with pytest.raises(ConfigError, match="'BPR'.*train_neg_sample_args"):
        load_config(config_dict={"loss_type": "BPR", "train_neg_sample_args": None})


# --- data_path from the environment --------------------------------------------------------------

def test_data_path_default_comes_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GRU4RECF_DATA_PATH", str(tmp_path))
    assert load_config().data_path == str(tmp_path)
    assert load_config(config_dict={"data_path": "elsewhere/"}).data_path == "elsewhere/"


def test_data_path_default_without_environment(monkeypatch):
    monkeypatch.delenv("GRU4RECF_DATA_PATH", raising=False)
    assert load_config().data_path == "dataset/"


# --- the result is read-only ------------------------------------------------------------------------

def test_config_rejects_item_assignment():
    config = load_config()
    with pytest.raises(TypeError):
        config["epochs"] = 3
    assert config["epochs"] == 300


def test_config_rejects_attribute_assignment():
    config = load_config()
    with pytest.raises((AttributeError, TypeError, ConfigError)):
        config.epochs = 3
    assert config.epochs == config["epochs"] == 300


def test_unknown_key_access_is_a_config_error():
    config = load_config()
    with pytest.raises(ConfigError, match="unknown config key 'learing_rate'"):
        config.learing_rate
    with pytest.raises(ConfigError, match="unknown config key 'nope'"):
        config["nope"]


def test_to_dict_round_trips_through_yaml(tmp_path):
    config = load_config("GRU4Rec", "ml-100k", config_dict={
        "loss_type": "BPR", "learning_rate": 1e-5, "topk": [5, 10], "clip_grad_norm": 5,
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}}, "user_inter_num_interval": "[5,inf)"})
    text = yaml.safe_dump(config.to_dict())
    again = load_config(config_dict=yaml.safe_load(text))
    assert isinstance(again, Config)
    assert again == config
    # ...and a config written to a file reads back through the library's own loader.
    path = write_yaml(tmp_path / "saved.yaml", text)
    assert load_config(config_file_list=[path]) == config


def test_strategy_other_than_simultaneous_needs_parallel_subnets():
    with pytest.raises(ConfigError, match=r"training_strategy 'residual'.*model 'GRU4RecF' has no parallel subnets "
                                          r"with these settings \(architecture 'parallel' or 'weighted' has two\); "
                                          r"use training_strategy 'simultaneous'"):
        load_config("GRU4RecF", config_dict={"training_strategy": "residual", "architecture": "concat"})
    with pytest.raises(ConfigError, match="model 'GRU4Rec' has no parallel subnets"):
        load_config("GRU4Rec", config_dict={"training_strategy": "alternating"})


def test_settings_an_architecture_ignores_are_warned_about():
    assert any("config key 'architecture' (from config_dict) is a setting of model GRU4RecF; model 'GRU4Rec' does "
               "not use it, so it is ignored" in w
               for w in load_config("GRU4Rec", config_dict={"architecture": "weighted"}).warnings)
    assert any("subnet_weights applies" in w for w in load_config("GRU4RecF", config_dict={"subnet_weights": [1, 2]}).warnings)
    assert not load_config("GRU4RecF", config_dict={"architecture": "weighted", "subnet_weights": [1, 2]}).warnings


@pytest.mark.parametrize("value", ["[1.0]", "[1, 'a']", "0.5"])
def test_subnet_weights_must_be_two_numbers(value):
    with pytest.raises(ConfigError, match="subnet_weights.*two numbers"):
        load_config("GRU4RecF", cli_args={"subnet_weights": value})


SHIPPED = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_file_passes_the_schema(path):
    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    config = load_config(config_file_list=[str(path)])
    assert all(config.sources[key] not in ("default", f"{config.model} defaults") for key in written)


def test_a_model_key_s_bad_value_names_the_model_and_what_it_allows():
    with pytest.raises(ConfigError, match=r"config key 'loss_type' has value 'XE'; expected one of 'CE', 'BPR', "
                                          r"'BPR-max', 'TOP1', 'TOP1-max', 'CE-batch' "
                                          r"\(a setting of model 'GRU4Rec'\)"):
        load_config("GRU4Rec", config_dict={"loss_type": "XE"})


def test_a_key_no_model_has_is_an_error_and_another_model_s_key_a_warning_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'pooling_mod' \(from config_dict\); "
                                          r"did you mean 'pooling_mode'\?"):
        load_config("GRU4Rec", config_dict={"pooling_mod": "sum"})
    shared = write_yaml(tmp_path / "shared.yaml", "pooling_mode: max\nhidden_size: 32\n")
    gru4rec = load_config("GRU4Rec", config_file_list=[shared])
    assert gru4rec.hidden_size == 32 and "pooling_mode" not in gru4rec
    assert gru4rec.warnings == [f"config key 'pooling_mode' (from {shared}) is a setting of models FDSA, GRU4RecF "
                                "and SASRecF; model 'GRU4Rec' does not use it, so it is ignored"]
    assert load_config("GRU4RecF", config_file_list=[shared]).pooling_mode == "max"


def test_sequence_mode_keys_default_to_max_item_list_length():
    from gru4recf.experiment import run_mode

    mode = run_mode(load_config(config_dict={"train_mode": "sequence", "MAX_ITEM_LIST_LENGTH": 7}))
    assert (mode.warmup, mode.chunk_length) == (7, 7)
    mode = run_mode(load_config(config_dict={"train_mode": "sequence", "MAX_ITEM_LIST_LENGTH": 7,
                                             "warmup_length": 3, "chunk_length": 20}))
    assert (mode.warmup, mode.chunk_length) == (3, 20)


def test_warnings_are_given_once():
    config = load_config("GRU4RecF", config_dict={"subnet_weights": [1, 2], "learn_subnet_weights": True})
    assert sorted(config.warnings) == [
        "learn_subnet_weights applies to GRU4RecF's architecture 'weighted' only; it is ignored here",
        "subnet_weights applies to GRU4RecF's architecture 'weighted' only; it is ignored here"]


def test_a_config_file_that_is_not_yaml_is_one_line_naming_file_line_and_column(tmp_path):
    path = write_yaml(tmp_path / "broken.yaml", "epochs: 3\nlearning_rate: [0.1, 0.2\nseed: 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config_file_list=[path])
    message = str(caught.value)
    assert "\n" not in message
    assert re.fullmatch(rf"config file {re.escape(path)} is not valid YAML: line 3, column \d+: .+", message), message


def test_recbole_exact_config_is_recbole_s_procedure_and_the_defaults_differ_only_in_the_recipe():
    """RecBole 1.2.1's overall.yaml, GRU4RecF.yaml and sequential evaluation settings, by hand; the
    defaults are the same but for the fast recipe's four keys (docs/results.md)."""
    exact_file = str(Path(__file__).resolve().parents[1] / "configs" / "recbole_exact.yaml")
    exact = load_config(config_file_list=[exact_file])
    recbole = {"train_mode": "augment", "learner": "adam", "learning_rate": 0.001, "weight_decay": 0.0,
               "train_batch_size": 2048, "epochs": 300, "eval_step": 1, "stopping_step": 10,
               "MAX_ITEM_LIST_LENGTH": 50, "embedding_size": 64, "hidden_size": 128, "num_layers": 1,
               "dropout_prob": 0.3, "selected_features": ["class"], "pooling_mode": "sum", "loss_type": "CE",
               "metrics": ["Recall", "MRR", "NDCG", "Hit", "Precision"], "topk": [10], "valid_metric": "MRR@10"}
    assert {key: exact[key] for key in recbole} == recbole
    assert exact.eval_args["split"] == {"LS": "valid_and_test"} and exact.eval_args["order"] == "TO"
    recipe = {"train_mode": "sequence", "learning_rate": 0.003, "stopping_step": 5}
    defaults = load_config("GRU4RecF", "ml-100k")
    assert {key: defaults[key] for key in recbole} == {**recbole, **recipe} and defaults.segment_length == 50
    gru4rec = load_config("GRU4Rec", "ml-100k")
    assert {key: gru4rec[key] for key in recipe} == recipe and gru4rec.segment_length == 50
    assert load_config("GRU4Rec", "ml-100k", [exact_file]).train_mode == "augment"
