"""Checkpoint files: plain tensors + JSON, refused with a clear CheckpointError when they are unsafe,
damaged, foreign or too new, and never lost to a failed save."""
import errno
import json
import os
import pickle

import numpy as np
import pytest
import torch

from gru4recf import load_model
from gru4recf.data.features import FeatureField
from gru4recf.errors import CheckpointError
from gru4recf.models.registry import build_model
from gru4recf.training import checkpoint as checkpoint_module
from gru4recf.training.checkpoint import (FORMAT, VERSION, last_checkpoint_path, load_checkpoint, read_checkpoint,
                                          save_checkpoint)

CONFIG = {"embedding_size": 8, "hidden_size": 6, "num_layers": 1, "dropout_prob": 0.0, "pooling_mode": "sum",
          "loss_type": "CE", "selected_features": ["class", "year"], "MAX_ITEM_LIST_LENGTH": 5}
TOKENS = ["[PAD]", "a", "b", "c", "d"]


def features() -> list:
    genres = [[], [1, 2], [2], [3, 1], []]
    year = np.array([0, 0.1, 0.5, 0.9, 0], dtype=np.float32)
    return [FeatureField.from_token_lists("class", genres, np.array(["[PAD]", "x", "y", "z"], dtype=object)),
            FeatureField("year", "float", year)]


def write_model_checkpoint(path, model_name="GRU4RecF", **meta):
    torch.manual_seed(0)
    model = build_model(model_name, CONFIG, len(TOKENS), features())
    save_checkpoint(path, model.state_dict(), dict({"model": model_name, "config": CONFIG}, **meta),
                    TOKENS, features())
    return model


def message_of(path) -> str:
    with pytest.raises(CheckpointError) as caught:
        read_checkpoint(path)
    return str(caught.value)


def test_round_trip_keeps_weights_catalogue_and_feature_tables(tmp_path):
    model = write_model_checkpoint(tmp_path / "m.pth", epoch=3)
    checkpoint = read_checkpoint(tmp_path / "m.pth")
    assert checkpoint.version == VERSION == 3
    assert checkpoint.meta["epoch"] == 3 and checkpoint.item_tokens() == TOKENS
    assert all(torch.equal(checkpoint.state_dict[k], v) for k, v in model.state_dict().items())
    for stored, original in zip(checkpoint.feature_fields(), features()):
        assert (stored.name, stored.kind) == (original.name, original.kind)
        assert np.array_equal(stored.values, original.values) and stored.values.dtype == original.values.dtype
        assert (stored.offsets is None) == (original.offsets is None)
        if stored.offsets is not None:
            assert stored.offsets.tolist() == original.offsets.tolist()
        assert (stored.vocab is None) == (original.vocab is None)
        if stored.vocab is not None:
            assert stored.vocab.tolist() == original.vocab.tolist()


def test_file_holds_only_tensors_and_json(tmp_path):
    write_model_checkpoint(tmp_path / "m.pth")
    payload = torch.load(tmp_path / "m.pth", weights_only=True)  # would fail on any pickled object
    assert payload["format"] == FORMAT and isinstance(payload["meta"], str)
    json.loads(payload["meta"])


def test_loading_uses_weights_only(tmp_path, monkeypatch):
    write_model_checkpoint(tmp_path / "m.pth")
    calls = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    read_checkpoint(tmp_path / "m.pth")
    assert calls and all(kw.get("weights_only") is True for kw in calls)


class _Payload:
    """Unpickling this would create the marker file: the classic pickle code-execution payload."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_crafted_pickle_payload_is_refused_without_running(writer, tmp_path):
    marker, path = tmp_path / "pwned", tmp_path / "evil.pth"
    payload = {"format": FORMAT, "version": VERSION, "meta": "{}", "state_dict": {}, "x": _Payload(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    message = message_of(path)
    assert str(path) in message and "refuses to unpickle" in message
    with pytest.raises(CheckpointError, match="refuses to unpickle"):
        load_model(path)
    assert not marker.exists()


def test_truncated_file_is_named_as_truncated(tmp_path):
    write_model_checkpoint(tmp_path / "m.pth")
    data = (tmp_path / "m.pth").read_bytes()
    (tmp_path / "m.pth").write_bytes(data[: len(data) // 2])
    message = message_of(tmp_path / "m.pth")
    assert "m.pth" in message and "truncated or corrupt" in message
    assert "\n" not in message


def test_empty_file_is_named_as_truncated(tmp_path):
    (tmp_path / "m.pth").write_bytes(b"")
    assert "truncated or corrupt" in message_of(tmp_path / "m.pth")


def test_missing_file_and_folder_are_named(tmp_path):
    assert "does not exist" in message_of(tmp_path / "nope.pth")
    assert "it is a folder" in message_of(tmp_path)


def test_newer_format_version_asks_for_an_upgrade(tmp_path):
    torch.save({"format": FORMAT, "version": VERSION + 1, "meta": "{}", "state_dict": {}}, tmp_path / "new.pth")
    message = message_of(tmp_path / "new.pth")
    assert f"format version {VERSION + 1}" in message and "upgrade gru4recf" in message


def test_foreign_checkpoint_is_not_taken_for_ours(tmp_path):
    # RecBole's layout, with plain data only (so it unpickles safely): still not ours.
    torch.save({"config": {"model": "GRU4RecF"}, "epoch": 3, "state_dict": {"w": torch.zeros(2)}},
               tmp_path / "recbole.pth")
    assert "is not a gru4recf checkpoint" in message_of(tmp_path / "recbole.pth")


def test_damaged_layout_is_named(tmp_path):
    torch.save({"format": FORMAT, "version": VERSION, "meta": "{not json", "state_dict": {}}, tmp_path / "m.pth")
    assert "is damaged" in message_of(tmp_path / "m.pth")


def test_a_token_seq_table_is_stored_ragged_and_offsets_that_do_not_fit_it_are_named(tmp_path):
    write_model_checkpoint(tmp_path / "m.pth")
    payload = torch.load(tmp_path / "m.pth", weights_only=True)
    assert payload["item_features"]["class"].tolist() == [1, 2, 2, 3, 1]  # the five items' genres end to end
    assert payload["item_feature_offsets"]["class"].tolist() == [0, 0, 2, 3, 5, 5]
    payload["item_feature_offsets"]["class"] = torch.tensor([0, 0, 2, 3, 5, 9])  # past the 5 stored ids
    payload["digest"] = checkpoint_module.payload_digest(payload)  # written so, not changed since
    torch.save(payload, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as caught:
        read_checkpoint(tmp_path / "bad.pth").feature_fields()
    assert str(caught.value) == (f"checkpoint {tmp_path / 'bad.pth'} is damaged: feature 'class': offsets must rise "
                                 "from 0 to the 5 values of a one-dimensional token table")


def test_version_1_file_loads_its_weights_but_not_as_a_model(tmp_path):
    torch.manual_seed(0)
    model = build_model("GRU4Rec", CONFIG, 5, [])
    torch.save({"format": FORMAT, "version": 1, "meta": json.dumps({"model": "GRU4Rec", "config": CONFIG}),
                "state_dict": model.state_dict()}, tmp_path / "v1.pth")
    state, meta = load_checkpoint(tmp_path / "v1.pth")
    assert meta["model"] == "GRU4Rec" and torch.equal(state["item_embedding.weight"], model.item_embedding.weight)
    with pytest.raises(CheckpointError, match=r"format version 1\) has no item catalogue.*retrain"):
        load_model(tmp_path / "v1.pth")


def test_checkpoint_made_by_another_model_is_refused_by_load_model(tmp_path):
    torch.manual_seed(0)
    gru4rec = build_model("GRU4Rec", CONFIG, len(TOKENS), [])
    # meta says GRU4RecF, the weights are GRU4Rec's
    save_checkpoint(tmp_path / "m.pth", gru4rec.state_dict(), {"model": "GRU4RecF", "config": CONFIG},
                    TOKENS, features())
    with pytest.raises(CheckpointError) as caught:
        load_model(tmp_path / "m.pth")
    assert "does not hold GRU4RecF weights" in str(caught.value) and "m.pth" in str(caught.value)


def test_unknown_model_name_in_checkpoint_is_a_checkpoint_error(tmp_path):
    write_model_checkpoint(tmp_path / "m.pth")
    checkpoint = read_checkpoint(tmp_path / "m.pth")
    save_checkpoint(tmp_path / "x.pth", checkpoint.state_dict, dict(checkpoint.meta, model="NoSuchModel"),
                    TOKENS, features())
    with pytest.raises(CheckpointError, match="holds model 'NoSuchModel' .*which this installation does not have: "
                                              "install the package that provides it"):
        load_model(tmp_path / "x.pth")


def test_last_checkpoint_goes_beside_the_best_one(tmp_path):
    assert last_checkpoint_path(tmp_path / "GRU4RecF-toy-x.pth") == tmp_path / "GRU4RecF-toy-x.last.pth"


# ---- a failed save never costs the previous file ---------------------------------------------------

def _no_temporary_files(folder) -> bool:
    return sorted(p.name for p in folder.iterdir()) == ["m.pth"]


def test_disk_full_while_writing_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    write_model_checkpoint(tmp_path / "m.pth", epoch=1)

    def disk_full(payload, handle):
        handle.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint_module.torch, "save", disk_full)
    with pytest.raises(CheckpointError) as caught:
        write_model_checkpoint(tmp_path / "m.pth", epoch=2)
    assert "m.pth" in str(caught.value) and "No space left on device" in str(caught.value)
    assert "previous file" in str(caught.value) and "unchanged" in str(caught.value)
    monkeypatch.undo()
    assert read_checkpoint(tmp_path / "m.pth").meta["epoch"] == 1
    assert load_model(tmp_path / "m.pth").recommend(["a"], k=2).items
    assert _no_temporary_files(tmp_path)


def test_permission_denied_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    write_model_checkpoint(tmp_path / "m.pth", epoch=1)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr("gru4recf.atomic_write.tempfile.mkstemp", denied)
    with pytest.raises(CheckpointError, match="cannot write checkpoint .*m.pth: Permission denied"):
        write_model_checkpoint(tmp_path / "m.pth", epoch=2)
    monkeypatch.undo()
    assert read_checkpoint(tmp_path / "m.pth").meta["epoch"] == 1
    assert _no_temporary_files(tmp_path)


def test_failed_fsync_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    write_model_checkpoint(tmp_path / "m.pth", epoch=1)

    def failing_fsync(fd):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr("gru4recf.atomic_write.os.fsync", failing_fsync)
    with pytest.raises(CheckpointError, match="Input/output error"):
        write_model_checkpoint(tmp_path / "m.pth", epoch=2)
    monkeypatch.undo()
    assert read_checkpoint(tmp_path / "m.pth").meta["epoch"] == 1
    assert _no_temporary_files(tmp_path)


# ---- corruption -------------------------------------------------------------------------------

def flip_a_weight_byte(path, tensor: torch.Tensor) -> None:
    """Changes one byte inside `tensor`'s stored bytes (torch keeps them uncompressed in the zip)."""
    data = bytearray(path.read_bytes())
    where = data.find(tensor.detach().contiguous().numpy().tobytes())
    assert where > 0, "the tensor's bytes should be in the file as they are"
    data[where + 5] ^= 0x10
    path.write_bytes(bytes(data))


def test_a_byte_changed_after_writing_is_refused_as_corrupt_by_every_reader(tmp_path):
    model = write_model_checkpoint(tmp_path / "m.pth")
    flip_a_weight_byte(tmp_path / "m.pth", model.item_embedding.weight)
    assert torch.load(tmp_path / "m.pth", weights_only=True)["state_dict"]  # torch itself loads it quietly
    message = message_of(tmp_path / "m.pth")
    assert message.startswith(f"checkpoint {tmp_path / 'm.pth'} is corrupt: its contents changed after it was "
                              "written")
    with pytest.raises(CheckpointError, match="is corrupt"):
        load_model(tmp_path / "m.pth")


def test_a_text_file_is_called_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.pth").write_text("best model: epoch 12\n", encoding="utf-8")
    assert message_of(tmp_path / "notes.pth") == (f"{tmp_path / 'notes.pth'} is not a checkpoint: it is not a file "
                                                  "written by torch.save (a text file, or another format?)")


def test_a_checkpoint_without_digest_loads_with_a_note(tmp_path, caplog):
    model = write_model_checkpoint(tmp_path / "m.pth")
    payload = torch.load(tmp_path / "m.pth", weights_only=True)
    del payload["digest"]  # as gru4recf 0.1 wrote them
    torch.save(payload, tmp_path / "old.pth")
    with caplog.at_level("INFO", logger="gru4recf"):
        state = read_checkpoint(tmp_path / "old.pth").state_dict
    assert torch.equal(state["item_embedding.weight"], model.item_embedding.weight)
    assert "carries no digest" in caplog.text and "cannot be verified" in caplog.text
