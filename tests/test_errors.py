"""Bad input never costs a user their work, end to end through the command line: every mistake is
one 'gru4recf: error:' line on stderr (the last one, no traceback) naming the file, line and field
or the key and allowed values, with exit status 2; well-formed oddities train; a NaN loss stops
the run, says where, and keeps the last good checkpoints."""

import pytest

from gru4recf.cli import main
from gru4recf.models.base import SequentialRecommender
from gru4recf.training.checkpoint import read_checkpoint
from gru4recf.training.trainer import Trainer
from helpers import write_pattern_dataset

PREFIX = "gru4recf: error:"




def run_cli(tmp_path, *args, epochs: int = 1) -> list:
    """The command line on the toy dataset under tmp_path (small and quick settings)."""
    return ["--dataset=toy", f"--data_path={tmp_path}", f"--log_dir={tmp_path / 'log'}", f"--results_dir={tmp_path / 'results'}",
            f"--checkpoint_dir={tmp_path / 'saved'}", f"--epochs={epochs}", "--train_batch_size=16",
            "--embedding_size=8", "--hidden_size=8", "--MAX_ITEM_LIST_LENGTH=5", "--show_progress=False",
            "--num_threads=1", "--state=WARNING", *args]


def the_error(capsys) -> str:
    """The one error line, checked to be the last line of stderr and the only one."""
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith(PREFIX)]
    assert len(lines) == 1, captured.err
    assert captured.err.splitlines()[-1] == lines[0] and "Traceback" not in captured.err
    return lines[0]


def assert_names(message: str, *words: str) -> None:
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


@pytest.fixture
def toy(tmp_path):
    write_pattern_dataset(tmp_path, n_users=20, length=6)
    return tmp_path / "toy"


def rows_of(path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


# ---- data errors -----------------------------------------------------------------------------------

DATA_CASES = [
    pytest.param(lambda text: text + "u1\t3\t1\n", ["toy.inter", "line 123", "3 fields", "expected 4"], id="short-row"),
    pytest.param(lambda text: text + "u1\t3\t1\t9\textra\n", ["toy.inter", "line 123", "5 fields"], id="long-row"),
    pytest.param(lambda text: text.replace("rating:float", "rating", 1), ["toy.inter", "line 1", "'rating'",
                                                                           "name:type"], id="field-without-type"),
    pytest.param(lambda text: text.replace("rating:float", "rating:flaot", 1),
                 ["toy.inter", "line 1", "'rating'", "'flaot'", "token_seq"], id="unknown-type"),
    pytest.param(lambda text: text.replace("rating:float", "item_id:token", 1),
                 ["toy.inter", "line 1", "'item_id'", "appears twice"], id="duplicate-column"),
    pytest.param(lambda text: text + "u1\t3\tgood\t9\n", ["toy.inter", "line 123", "'rating'", "'good'",
                                                          "finite number"], id="non-numeric-float"),
    pytest.param(lambda text: text + "u1\t3\tinf\t9\n", ["toy.inter", "line 123", "'rating'", "'inf'"],
                 id="non-finite-float"),
    pytest.param(lambda text: "", ["toy.inter", "file is empty"], id="empty-file"),
    pytest.param(lambda text: text.splitlines()[0] + "\n", ["toy.inter", "header but no rows"], id="header-only"),
    pytest.param(lambda text: text.replace("\t", ","), ["toy.inter", "line 1", "field_separator"],
                 id="wrong-separator"),
    pytest.param(lambda text: text.encode("utf-8") + b"u1\t\xff3\t1\t9\n",
                 ["toy.inter", "line 123", "not valid UTF-8", "0xff"], id="invalid-utf8"),
]


@pytest.mark.parametrize("edit, words", DATA_CASES)
def test_malformed_interaction_file_is_one_line_naming_file_and_line(edit, words, toy, capsys):
    path = toy / "toy.inter"
    assert rows_of(path) == 122  # so an appended row is line 123
    edited = edit(path.read_text(encoding="utf-8"))
    path.write_bytes(edited if isinstance(edited, bytes) else edited.encode("utf-8"))
    assert main(run_cli(toy.parent)) == 2
    assert_names(the_error(capsys), *words)


def test_malformed_item_file_is_named(toy, capsys):
    path = toy / "toy.item"
    path.write_text(path.read_text(encoding="utf-8") + "77\tAction\tnan\n", encoding="utf-8")
    assert main(run_cli(toy.parent)) == 2
    assert_names(the_error(capsys), "toy.item", f"line {rows_of(path)}", "'year'", "'nan'")


@pytest.mark.parametrize("args, words", [
    (["--selected_features=['nope']"], ["selected_features", "'nope'", "toy.item", "class, year"]),
    (["--user_inter_num_interval='[100,inf)'"], ["toy.inter", "no interactions left after filtering",
                                                  "user_inter_num_interval"]),
])
def test_unusable_dataset_is_one_line(toy, capsys, args, words):
    assert main(run_cli(toy.parent, *args)) == 2
    assert_names(the_error(capsys), *words)


def test_users_too_short_to_split_is_one_line(tmp_path, capsys):
    write_pattern_dataset(tmp_path, n_users=10, length=2)
    (tmp_path / "toy" / "toy.inter").write_text(
        "\n".join(line for line in (tmp_path / "toy" / "toy.inter").read_text().splitlines()
                  if "\t999\t" not in line) + "\n")
    assert main(run_cli(tmp_path)) == 2
    assert_names(the_error(capsys), "dataset 'toy'", "examples after the split", "at least 4 interactions")


# ---- configuration errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--hiden_size=8"], ["'hiden_size'", "command line", "did you mean 'hidden_size'"]),
    (["--model=SASRecc"], ["'model'", "'SASRecc'", "'GRU4Rec', 'GRU4RecF'", "'SASRec'"]),
    (["--epochs=-1"], ["'epochs'", "-1", ">= 1"]),
    (["--dropout_prob=1.0"], ["'dropout_prob'", "1.0", "[0.0, 1.0)"]),
    (["--pooling_mode=avg"], ["'pooling_mode'", "'avg'", "'sum', 'mean', 'max'"]),
    (["--loss_type=XE"], ["'loss_type'", "'XE'", "'CE', 'BPR'"]),
    (["--selected_features=[]"], ["'selected_features'", "[]", "non-empty list"]),
])
def test_config_error_is_one_line_naming_key_and_allowed_values(toy, capsys, args, words):
    assert main(run_cli(toy.parent, *args)) == 2
    assert_names(the_error(capsys), *words)


def test_resume_from_a_missing_checkpoint_is_one_line(toy, capsys):
    assert main(run_cli(toy.parent, f"--resume={toy / 'gone.last.pth'}")) == 2
    assert_names(the_error(capsys), "gone.last.pth", "does not exist")
    assert not (toy.parent / "saved").exists()  # nothing started from scratch


# ---- accepted oddities train end to end ----------------------------------------------------------------

def test_bom_crlf_no_final_newline_empty_token_seq_and_missing_item_rows_train(toy, capsys):
    inter = toy / "toy.inter"
    inter.write_bytes(b"\xef\xbb\xbf" + inter.read_text(encoding="utf-8").rstrip("\n").replace("\n", "\r\n")
                      .encode("utf-8"))
    item_lines = (toy / "toy.item").read_text(encoding="utf-8").splitlines()
    item_lines[1] = item_lines[1].split("\t")[0] + "\t\t1990"      # empty token_seq cell
    del item_lines[5]                                                # an item without a .item row
    (toy / "toy.item").write_bytes(("\r\n".join(item_lines)).encode("utf-8"))
    assert main(run_cli(toy.parent, epochs=2)) == 0
    captured = capsys.readouterr()
    assert "test result:" in captured.err and PREFIX not in captured.err


# ---- a NaN loss ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("train_mode, loss_name", [("augment", "loss"), ("sequence", "sequence_loss")])
def test_nan_loss_stops_with_epoch_and_batch_and_keeps_the_last_good_checkpoints(
        train_mode, loss_name, toy, capsys, monkeypatch):
    where = {}
    train_epoch, loss = Trainer.train_epoch, getattr(SequentialRecommender, loss_name)

    def tracking_epoch(self, batches, epoch):
        where.update(epoch=epoch, batch=0)
        return train_epoch(self, batches, epoch)

    def poisoned_loss(self, *args, **kwargs):
        where["batch"] += 1
        value = loss(self, *args, **kwargs)
        poison = (where["epoch"], where["batch"]) == (1, 2)
        if isinstance(value, tuple):  # sequence_loss: (loss, state)
            return (value[0] * float("nan"), value[1]) if poison else value
        return value * float("nan") if poison else value

    monkeypatch.setattr(Trainer, "train_epoch", tracking_epoch)
    monkeypatch.setattr(SequentialRecommender, loss_name, poisoned_loss)
    assert main(run_cli(toy.parent, f"--train_mode={train_mode}", epochs=3)) == 2
    message = the_error(capsys)
    assert_names(message, "loss became nan", "epoch 1, batch 2", "last good epoch", ".last.pth")

    (last,) = (toy.parent / "saved").glob("*.last.pth")
    best = last.with_name(last.name.replace(".last.pth", ".pth"))
    assert read_checkpoint(last).meta["epoch"] == 0 and read_checkpoint(last).meta["training"]["next_epoch"] == 1
    assert read_checkpoint(best).meta["epoch"] == 0
    assert not list((toy.parent / "saved").glob("*.tmp"))
