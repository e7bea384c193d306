"""The search's files: one JSON object a line per trial, the summary table, the best config as YAML.

The results file is rewritten atomically after every trial, so it always holds every finished
trial and nothing half-written; reading it back is how an interrupted search resumes.
"""
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import yaml

from ..atomic_write import atomic_write_text
from ..errors import ConfigError, OutputError

FINISHED = ("ok", "failed", "stopped")  # stopped: ended early by a scheduler (Ray Tune ASHA)


def beside(output_file: str, suffix: str) -> Path:
    """A file or folder of a search beside its results file: `<output_file stem><suffix>` (the best
    config, the trials' logs, Tune's files), so that a search stays in one folder."""
    path = Path(output_file)
    return path.with_name(path.stem + suffix)


def trial_row(line: str) -> Optional[dict]:
    """The trial row a line of a results file holds, or None when it holds none."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    if not isinstance(row, dict) or not isinstance(row.get("trial"), int) or row.get("status") not in FINISHED:
        return None
    return row


def read_results(path: str, search_id: str) -> Dict[int, dict]:
    """The finished trials of a results file by trial number ({} when the file does not exist).

    A file written by a different search (other parameters, algorithm or fixed settings) is an
    error rather than silently mixed in.
    """
    file = Path(path)
    if not file.exists():
        return {}
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read the results file {path}: {error}") from None
    rows = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        row = trial_row(line)
        if row is None:
            raise ConfigError(f"results file {path}, line {number}: not a trial row written by run_hyper; "
                              "use another --output_file or delete this one")
        if row.get("search_id") != search_id:
            raise ConfigError(f"results file {path} holds trials of a different search (other parameters, "
                              "algorithm or fixed settings); use another --output_file to start a new search, "
                              "or delete it")
        rows[row["trial"]] = row
    return rows


def write_results(path: str, rows: Mapping[int, dict]) -> None:
    """Replaces the results file with every finished trial, in trial order (atomically)."""
    text = "".join(json.dumps(rows[tid], allow_nan=False) + "\n" for tid in sorted(rows))
    try:
        atomic_write_text(path, text)
    except OSError as error:
        raise OutputError(f"cannot write the search results file {path}: {error.strerror or error}; its "
                          "previous rows are unchanged: free space and run the same command to resume") from None


def make_row(tid: int, params: Mapping, status: str, seconds: float, search_id: str,
             valid_metric: str, result: Optional[Mapping] = None, error: Optional[str] = None,
             log_file: Optional[str] = None) -> dict:
    """One trial's row: parameters, validation score and metrics, test metrics, time, status."""
    result = result or {}
    row: Dict[str, Any] = {"trial": tid, **params, "status": status,
                           "valid_score": result.get("best_valid_score"), "valid_metric": valid_metric}
    row.update({f"valid_{k}": _finite(v) for k, v in (result.get("best_valid_result") or {}).items()})
    row.update({f"test_{k}": _finite(v) for k, v in (result.get("test_result") or {}).items()})
    row.update({"seconds": round(seconds, 2), "error": error, "log_file": log_file, "search_id": search_id})
    return row


def _finite(value: Any) -> Any:
    """Metrics as plain floats; a non-finite one becomes None (JSON has no NaN)."""
    value = float(value)
    return value if math.isfinite(value) else None


def best_row(rows: Sequence[dict]) -> Optional[dict]:
    """The successful trial with the highest validation score (the earliest on ties), or None."""
    ok = [r for r in rows if r["status"] == "ok"]
    return min(ok, key=lambda r: (-r["valid_score"], r["trial"])) if ok else None


def ranked(rows: Sequence[dict]) -> List[dict]:
    """Successful trials best first (by validation score), then the stopped and failed ones."""
    ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: (-r["valid_score"], r["trial"]))
    return ok + sorted((r for r in rows if r["status"] != "ok"), key=lambda r: r["trial"])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


def summary_table(rows: Sequence[dict], names: Sequence[str], valid_metric: str) -> str:
    """A fixed-width table of the trials, best validation score first (stopped and failed trials last)."""
    key = valid_metric.lower()
    header = ["rank", "trial", *names, f"valid {key}", f"test {key}", "seconds", "status"]
    failed = any(r["status"] == "failed" for r in rows)
    if failed:
        header.append("error")
    body = []
    for rank, row in enumerate(ranked(rows), start=1):
        cells = [str(rank) if row["status"] == "ok" else "-", str(row["trial"]),
                 *(_cell(row.get(n)) for n in names), _cell(row.get(f"valid_{key}")),
                 _cell(row.get(f"test_{key}")), f"{row['seconds']:.1f}", row["status"]]
        if failed:
            error = row.get("error") or ""
            cells.append(error if len(error) <= 60 else error[:57] + "...")
        body.append(cells)
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(c) for c in body)])


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def write_best_config(path: str, fixed: Mapping, params: Mapping, comment: str) -> None:
    """The fixed settings plus the best trial's parameters as a YAML file for `run.py --config_files=`."""
    values = {**{k: _plain(v) for k, v in fixed.items()}, **{k: _plain(v) for k, v in params.items()}}
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    atomic_write_text(path, header + yaml.safe_dump(values, sort_keys=False, default_flow_style=None))
