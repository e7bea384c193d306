"""Write a file so that readers see either the old content or the complete new content.

Checkpoints, result files and downloaded datasets are written through `atomic_write`: the data
goes to a temporary file in the destination folder, is flushed to disk, and is then renamed onto
the target with `os.replace` (atomic on POSIX and Windows when both paths are on the same file
system, which the shared folder guarantees). A crash, a full disk or an exception in the caller
therefore never leaves a truncated target behind, and the temporary file is removed.
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Iterator, Union

from .errors import OutputError

PathLike = Union[str, os.PathLike]

_NEW_FILE_MODE = 0o644  # mkstemp makes 0o600 files; a finished result should be readable by all


@contextmanager
def atomic_write(path: PathLike, mode: str = "wb") -> Iterator[IO]:
    """Yield a file object on a temporary file that replaces `path` when the block succeeds.

    `mode` is "wb" (bytes) or "w" (text, UTF-8, newlines written exactly as given). The parent
    directory is created if missing. On success the data is flushed and fsync'ed, the file gets
    the old target's permissions (0o644 for a new file) and is renamed onto `path`. On any
    exception the temporary file is deleted, the previous target is left untouched and the
    exception propagates.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', got {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        text_options = {} if mode == "wb" else {"encoding": "utf-8", "newline": ""}
        try:
            handle = os.fdopen(fd, mode, **text_options)
        except BaseException:
            os.close(fd)
            raise
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, _target_mode(target))
        os.replace(tmp_name, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(target.parent)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Replace the file at `path` with `data`, atomically (see `atomic_write`)."""
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: PathLike, text: str) -> None:
    """Replace the file at `path` with `text` encoded as UTF-8, atomically (see `atomic_write`)."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


def _target_mode(target: Path) -> int:
    """Permission bits for the new file: keep those of the file being replaced, if any."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return _NEW_FILE_MODE


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it (best effort)."""
    if os.name != "posix":
        return
    with suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


PROBE_PREFIX = ".gru4recf-write-check."


def check_writable(folder: PathLike, setting: str) -> Path:
    """Creates `folder` if needed and writes (then removes) a small file in it, so that a folder
    the run could not write is a one-line OutputError naming `setting` and the path before any
    work starts, not an error after hours of training. The probe file has a name of its own, so
    that processes checking the same folder at once (a search's workers) do not remove each
    other's."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=folder)
        try:
            os.write(handle, b"ok\n")
            os.fsync(handle)
        finally:
            os.close(handle)
            os.unlink(probe)
    except OSError as error:
        raise OutputError(f"{setting} {folder} cannot be written: {error.strerror or error}") from None
    return folder


def remove_stale_temporaries(target: PathLike) -> int:
    """Deletes the temporary files `atomic_write` left beside `target` when a process writing it was
    killed (SIGKILL gives no chance to clean up); returns how many. Only call it for a target no
    other process is writing (a run's own files, when the run starts or resumes)."""
    target = Path(target)
    stale = list(target.parent.glob(f".{target.name}.*.tmp")) if target.parent.is_dir() else []
    for path in stale:
        with suppress(FileNotFoundError):
            os.unlink(path)
    return len(stale)
