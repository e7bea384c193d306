"""Where one run's files go: a folder per run, `<results_dir>/<run id>/`, holding its log, its
checkpoints and its results, so that a run is one thing to look at, copy or delete.

RecBole's `checkpoint_dir` (and our `log_dir`) still move those files elsewhere when set (a bigger
disk for checkpoints, say); the files keep the run id in their names, so a checkpoint copied out of
its folder still says which run it belongs to.
"""
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

LAST_SUFFIX = ".last.pth"


def new_run_id(model: str, dataset: str) -> str:
    """The id that names one run's folder and files: `<model>-<dataset>-<time>-<hex>`."""
    return f"{model}-{dataset}-{time.strftime('%b-%d-%Y_%H-%M-%S')}-{uuid.uuid4().hex[:6]}"


def resumed_run_id(last_checkpoint: Union[str, Path]) -> str:
    """The id of the run whose 'last' checkpoint is `last_checkpoint` (`<run id>.last.pth`)."""
    name = Path(last_checkpoint).name
    for suffix in (LAST_SUFFIX, ".pth"):
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name


@dataclass(frozen=True)
class RunPaths:
    """The paths of one run's files, and the setting each folder comes from (for error messages)."""

    run_id: str
    folder: Path  # <results_dir>/<run id>/: config.yaml, epochs.jsonl, results.json
    log_file: Path
    log_setting: str
    checkpoint_dir: Path
    checkpoint_setting: str

    @property
    def best_checkpoint(self) -> Path:
        """The best model's file; the 'last' one lies beside it (`training.checkpoint.last_checkpoint_path`)."""
        return self.checkpoint_dir / f"{self.run_id}.pth"


def run_paths(run_id: str, model: str, results_dir: str, log_dir: Optional[str] = None,
              checkpoint_dir: Optional[str] = None, resume: Optional[Union[str, Path]] = None) -> RunPaths:
    """The files of run `run_id`. By default all of them lie in `<results_dir>/<run id>/`;
    `log_dir` puts the log at `<log_dir>/<model>/<run id>.log`, `checkpoint_dir` the checkpoints
    at `<checkpoint_dir>/<run id>.pth`. A resumed run (`resume`: its last checkpoint) keeps the
    folder that checkpoint lies in when the folder is named for the run, wherever it was moved."""
    folder = Path(results_dir) / run_id
    if resume is not None and Path(resume).parent.name == run_id:
        folder = Path(resume).parent
    log_file = (Path(log_dir) / model if log_dir else folder) / f"{run_id}.log"
    checkpoints = Path(checkpoint_dir) if checkpoint_dir else folder
    return RunPaths(run_id, folder, log_file, "log_dir" if log_dir else "results_dir",
                    checkpoints, "checkpoint_dir" if checkpoint_dir else "results_dir")
