"""The library's own exceptions: every error a user can cause is one of these.

Each message is meant to be actionable on its own: it names the file, 1-based line and field
(data), or the key, the value found and what is allowed (configuration).
"""


class Gru4recfError(Exception):
    """Base class of every user-facing error raised by gru4recf."""


class ConfigError(Gru4recfError):
    """A configuration key is unknown, or its value has the wrong type or is out of range."""


class DataFormatError(Gru4recfError):
    """An atomic file is malformed (bad header, wrong field count, bad number, bad encoding)."""


class DatasetError(Gru4recfError):
    """The data is well-formed but cannot be used (missing files, empty after filtering, ...)."""


class OutputError(Gru4recfError):
    """A folder or file the run must write cannot be written (read-only, below a regular file, no
    permission, disk full); the message names the setting or file and the path."""


class DownloadError(Gru4recfError):
    """A dataset could not be downloaded, or the download failed its checksum."""


class CheckpointError(Gru4recfError):
    """A checkpoint file is missing, truncated, unsafe or was made by another model/version."""


class TrainingError(Gru4recfError):
    """Training cannot continue (for example a NaN or infinite loss)."""


class DistributedError(Gru4recfError):
    """The processes of a distributed run cannot be set up (torchrun's variables missing or
    inconsistent, a backend the devices do not support, a process group that cannot be joined)."""


class RecommendError(Gru4recfError):
    """A recommendation request is malformed (k not a positive integer, sessions not lists)."""
