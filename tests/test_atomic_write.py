"""atomic_write: the target holds the old or the complete new content, never a partial file."""

import errno
import os
import stat

import pytest

from gru4recf.atomic_write import atomic_write, atomic_write_bytes, atomic_write_text


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_writes_bytes_and_text_and_creates_the_parent_folder(tmp_path):
    target = tmp_path / "new" / "deeper" / "result.bin"
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    atomic_write_text(target, "h\u00e9\n")
    assert target.read_bytes() == "h\u00e9\n".encode("utf-8")
    assert _leftovers(target.parent) == []


def test_text_mode_keeps_newlines_as_written(tmp_path):
    target = tmp_path / "lines.txt"
    with atomic_write(target, "w") as handle:
        handle.write("a\nb\r\n")
    assert target.read_bytes() == b"a\nb\r\n"


def test_new_file_is_readable_and_replacement_keeps_permissions(tmp_path):
    target = tmp_path / "f"
    atomic_write_bytes(target, b"1")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    os.chmod(target, 0o600)
    atomic_write_bytes(target, b"2")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_exception_in_block_keeps_old_file_and_removes_temp(tmp_path):
    target = tmp_path / "ckpt.pt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_disk_full_during_fsync_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    target.write_bytes(b"old")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError) as caught:
        atomic_write_bytes(target, b"new content")
    assert caught.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_failing_write_leaves_no_target_when_there_was_none(tmp_path):
    target = tmp_path / "never.txt"

    class Unwritable:
        pass

    with pytest.raises(TypeError):
        atomic_write_bytes(target, Unwritable())  # type: ignore[arg-type]
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_rejects_modes_other_than_w_and_wb(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "x", "a"):
            pass
