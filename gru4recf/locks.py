"""One process at a time on a file that several runs could share: a search's results file, the
'last' checkpoint a run resumes from.

`exclusive(path, what)` holds an advisory lock (`flock`) on `.<name>.lock` beside `path` for the
duration of a block. The kernel releases it when the holder exits, however it exits (a SIGKILL
included), so a lock is never stale. A second process gets a one-line OutputError naming the holder
(process id, host, since when) instead of overwriting the first one's finished work.
"""
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

from .errors import OutputError

try:
    import fcntl
except ImportError:  # not on POSIX: no locking (documented)
    fcntl = None


def lock_path(path: Union[str, Path]) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextmanager
def exclusive(path: Union[str, Path], what: str) -> Iterator[None]:
    """Holds the lock of `path` for the block; OutputError if another process holds it."""
    if fcntl is None:
        yield
        return
    where = lock_path(path)
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(where, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise OutputError(f"{what} {path}: cannot create its lock file {where}: {error.strerror or error}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
            raise OutputError(f"{what} {path} is in use by {holder} (lock {where}); wait for it to finish or "
                              "choose another file") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}"
                  .encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
