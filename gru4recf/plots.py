"""Pictures of what runs and searches wrote: `gru4recf plot <run folder | search results file>`.

- A run's results folder (`<results_dir>/<run id>/`): its learning curves, the training loss and
  the validation metric per epoch with the best epoch marked, as `learning_curves.png` and `.svg`
  in the folder.
- A search's results file (`run_hyper.py --output_file`, one JSON row per trial): the validation
  score of every finished trial against each searched parameter, as `<file stem>.png` and `.svg`
  beside it (failed trials are counted in the title, not drawn).

matplotlib is an optional extra (`pip install gru4recf[plot]`); the figures are drawn off-screen.
"""
import io
import json
from pathlib import Path
from typing import Any, List, Sequence, Tuple

import yaml

from .atomic_write import atomic_write_bytes
from .errors import ConfigError, OutputError
from .search.results import trial_row
from .training.results import CONFIG_FILE, EPOCHS_FILE, RESULTS_FILE, read_epochs

FORMATS = ("png", "svg")


def pyplot():
    """matplotlib's pyplot on its off-screen backend, or a one-line error naming the extra."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("plotting needs matplotlib: pip install 'gru4recf[plot]'") from None
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable and editable
    import matplotlib.pyplot as plt
    return plt


def plot(path: Path) -> List[Path]:
    """Draws the figure of a run folder or a search results file; returns the files written."""
    path = Path(path)
    if path.is_dir():
        if not (path / EPOCHS_FILE).is_file():
            raise ConfigError(f"{path} is not a run's results folder: it has no {EPOCHS_FILE}")
        return learning_curves(path)
    if path.is_file():
        return search_plot(path)
    raise ConfigError(f"nothing to plot at {path}: give a run's results folder or a search results file")


def learning_curves(folder: Path) -> List[Path]:
    """Training loss and validation metric per epoch of the run in `folder`, best epoch marked."""
    rows = read_epochs(folder)
    metric = _valid_metric(folder)
    validated = [row for row in rows if metric in row]
    if not rows:
        raise ConfigError(f"{folder / EPOCHS_FILE} has no epochs yet")
    final = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8")) if (folder / RESULTS_FILE).is_file() else {}
    best = final.get("best_epoch", rows[-1].get("best_epoch"))
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    figure, (loss_axes, metric_axes) = plt.subplots(1, 2, figsize=(10, 4))
    for axes in (loss_axes, metric_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_axes.plot([r["epoch"] for r in rows], [r["train_loss"] for r in rows], marker=".")
    loss_axes.set(xlabel="epoch", ylabel="training loss (sum over batches)", title="training loss")
    metric_axes.plot([r["epoch"] for r in validated], [r[metric] for r in validated], marker=".", label="validation")
    if best is not None and best >= 0:
        score = next((r[metric] for r in validated if r["epoch"] == best), None)
        metric_axes.axvline(best, color="grey", linestyle="--", linewidth=1)
        if score is not None:
            metric_axes.plot([best], [score], marker="*", markersize=14, color="tab:red", linestyle="none",
                             label=f"best: epoch {best}, {score:.4f}")
    if "test_result" in final and metric in final["test_result"]:
        metric_axes.axhline(final["test_result"][metric], color="tab:green", linestyle=":", linewidth=1,
                            label=f"test (best model): {final['test_result'][metric]:.4f}")
    metric_axes.set(xlabel="epoch", ylabel=metric, title=f"validation {metric}")
    metric_axes.legend(loc="lower right")
    figure.suptitle(folder.name, fontsize=9)
    figure.tight_layout()
    return _save(plt, figure, folder / "learning_curves")


def search_plot(path: Path) -> List[Path]:
    """The validation score of each finished trial of a search results file against each parameter."""
    rows = _search_rows(path)
    names = _parameters(rows, path)
    done = [row for row in rows if row["status"] == "ok" and row.get("valid_score") is not None]
    if not done:
        raise ConfigError(f"search results file {path} has no finished trial to plot")
    metric = done[0].get("valid_metric", "validation score")
    plt = pyplot()
    figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.6), squeeze=False)
    best = max(done, key=lambda row: row["valid_score"])
    for axis, name in zip(axes[0], names):
        positions, labels = _positions([row[name] for row in done])
        axis.scatter(positions, [row["valid_score"] for row in done], alpha=0.7)
        axis.scatter([positions[done.index(best)]], [best["valid_score"]], marker="*", s=200, color="tab:red",
                     label=f"best: {best['valid_score']:.4f}")
        values = [row[name] for row in done]
        if labels is not None:
            axis.set_xticks(range(len(labels)), labels, rotation=30)
        elif _spans_decades(values):
            axis.set_xscale("log")
        elif all(isinstance(v, int) for v in values):
            axis.set_xticks(sorted(set(values)))
        axis.set(xlabel=name, ylabel=f"validation {metric}")
        axis.legend(loc="lower right")
    failed = len(rows) - len(done)
    figure.suptitle(f"{path.name}: {len(done)} trials" + (f", {failed} failed (not drawn)" if failed else ""),
                    fontsize=9)
    figure.tight_layout()
    return _save(plt, figure, path.with_suffix(""))


def _valid_metric(folder: Path) -> str:
    config_path = folder / CONFIG_FILE
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    return str((config or {}).get("valid_metric", "MRR@10")).lower()


def _search_rows(path: Path) -> List[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = trial_row(line)
        if row is None:
            raise ConfigError(f"{path}, line {number}: not a trial row written by run_hyper (nor a run's results "
                              "folder)")
        rows.append(row)
    if not rows:
        raise ConfigError(f"search results file {path} has no trials")
    return rows


def _parameters(rows: Sequence[dict], path: Path) -> List[str]:
    """The searched parameters: a row's keys between 'trial' and 'status', as run_hyper writes them."""
    keys = list(rows[0])
    names = keys[keys.index("trial") + 1:keys.index("status")]
    if not names:
        raise ConfigError(f"search results file {path} names no searched parameter")
    return names


def _positions(values: Sequence[Any]) -> Tuple[List[float], Any]:
    """x positions of a parameter's values, and tick labels when they are not all numbers."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values], None
    labels = sorted({json.dumps(v) for v in values})
    return [labels.index(json.dumps(v)) for v in values], labels


def _spans_decades(values: Sequence[Any]) -> bool:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return len(numbers) == len(values) and min(numbers) > 0 and max(numbers) / min(numbers) >= 20


def _save(plt, figure, stem: Path) -> List[Path]:
    """Each format beside `stem`, atomically; an unwritable place is an OutputError naming it."""
    written = []
    try:
        for fmt in FORMATS:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=fmt, dpi=120)
            target = stem.with_name(f"{stem.name}.{fmt}")
            atomic_write_bytes(target, buffer.getvalue())
            written.append(target)
    except OSError as error:
        raise OutputError(f"cannot write the plot {stem}.*: {error.strerror or error}") from None
    finally:
        plt.close(figure)
    return written
