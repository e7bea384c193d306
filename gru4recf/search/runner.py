"""The search loop: `hyper_search` plans the trials, runs them (here or in worker processes),
saves every finished trial, and picks the best one by its validation score."""
import hashlib
import json
import math
import multiprocessing
import sys
from contextlib import ExitStack
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence

from ..atomic_write import check_writable
from ..config import Config
from ..experiment import load_config, result_free_keys
from ..errors import ConfigError, TrainingError
from ..locks import exclusive
from .params import Param, read_params
from .results import beside, best_row, read_results, summary_table, write_best_config, write_results
from .space import Suggester, check_algo, grid, grid_size
from .trial import DataCache, TrialTask, run_trial, run_trial_in_worker, init_worker

if TYPE_CHECKING:
    from .ray_tune import RaySettings

DEFAULT_MAX_EVALS = 100  # random and bayes, as RecBole
TOOLS = ("hyperopt", "ray")


@dataclass
class SearchResult:
    """What `hyper_search` returns; `trials` are the results file's rows in trial order."""

    best_params: Optional[Dict[str, Any]]
    best_valid_score: Optional[float]
    best_valid_result: Optional[Dict[str, float]]
    best_test_result: Optional[Dict[str, float]]
    best_trial: Optional[int]
    trials: List[dict]
    param_names: List[str]
    valid_metric: str
    output_file: str
    best_config_file: Optional[str]

    def table(self) -> str:
        """The trials as a readable table, best validation score first."""
        return summary_table(self.trials, self.param_names, self.valid_metric)


def hyper_search(params_file: str, model: Optional[str] = None, dataset: Optional[str] = None,
                 config_file_list: Optional[Sequence[str]] = None, config_dict: Optional[Mapping] = None,
                 cli_args: Optional[Mapping] = None, algo: str = "exhaustive", max_evals: Optional[int] = None,
                 early_stop: Optional[int] = None, output_file: Optional[str] = None,
                 best_config_file: Optional[str] = None, workers: int = 1,
                 show_progress: Optional[bool] = None, tool: str = "hyperopt",
                 ray: Optional["RaySettings"] = None) -> SearchResult:
    """Searches the parameters of `params_file` (hyper.test format) for the best validation score.

    Each trial trains with the fixed layers (config files, `config_dict`, `cli_args`) plus its own
    parameters, and is scored on `valid_metric`; the test result is recorded, never used to choose.
    `algo`: 'exhaustive' (every combination of the choice grid once), 'random' or 'bayes' (TPE).
    `max_evals` caps the trials (default: the grid, or 100); `early_stop` ends the search after that
    many finished trials without a new best (default: never). Every finished trial, failed ones
    included, is saved to `output_file` (JSON lines; default
    `<results_dir>/hyper-<model>-<dataset>/trials.jsonl`, the search's folder) at once; running
    again with the same file resumes. The best trial's settings are written to `best_config_file`
    (YAML, for run.py; default `<output_file stem>.best.yaml` beside it), and each trial's log to
    `<output_file stem>_logs/` beside it unless `log_dir` is set.
    `workers` > 1 runs trials in that many processes, each with num_threads // workers threads
    (num_threads: the configured value, else the CPUs available).
    `tool` 'ray' runs the trials on Ray Tune instead (see `ray_tune`), where `ray` says where and
    with what resources; the trials, the results file and resume are the same.
    """
    ray = _check_tool(tool, workers, ray)
    params = read_params(params_file)
    check_algo(algo, params)
    max_evals = _positive("max_evals", max_evals)
    early_stop = _positive("early_stop", early_stop)
    workers = _positive("workers", workers)
    fixed = {**dict(config_dict or {}), **dict(cli_args or {})}
    files = tuple(str(f) for f in (config_file_list or ()))
    base = load_config(model, dataset, list(files), config_dict, cli_args)
    _check_overlap(params, config_dict, cli_args)
    _check_used(params, base)
    _check_values(params, base.model, base.dataset, files, fixed)

    from ..runtime import default_threads
    threads = max(1, (base.num_threads or default_threads()) // workers)
    if ray is not None:
        from .ray_tune import check_settings
        check_settings(ray, base.epochs)
        threads = ray.cpus_per_trial
    output_file = str(output_file or Path(base.results_dir) / f"hyper-{base.model}-{base.dataset}" / "trials.jsonl")
    logs = trial_logs_folder(output_file)
    best_config_file = str(best_config_file or _best_config_path(output_file))
    check_writable(Path(output_file).parent, "output_file's folder")  # before the first trial, not after it
    check_writable(Path(best_config_file).parent, "best_config_file's folder")
    search_id = _search_id(base, params, algo, ray)
    show = base.show_progress if show_progress is None else show_progress

    total = (min(grid_size(params), max_evals or grid_size(params)) if algo == "exhaustive"
             else max_evals or DEFAULT_MAX_EVALS)
    with exclusive(output_file, "search results file"):  # two searches on one file would overwrite each other
        rows = read_results(output_file, search_id)
        planner = _Planner(algo, params, base.seed, rows)
        make_task = lambda tid: TrialTask(tid, planner.params_for(tid), base.model, base.dataset, files, fixed,
                                          threads, search_id, logs)
        pending = (tid for tid in range(total) if tid not in rows)
        stop = lambda: early_stop is not None and _stale(rows) >= early_stop
        with ExitStack() as held:
            capacity = held.enter_context(_joined_ray(ray, base)) if ray is not None else None
            record = held.enter_context(_Recorder(rows, total, output_file, [p.name for p in params],
                                                  base.valid_metric, show))
            if ray is not None:
                template = TrialTask(-1, {}, base.model, base.dataset, files, fixed, threads, search_id, logs)
                _run_on_ray(pending, planner, template, record, stop, ray, capacity, base, output_file)
            elif workers == 1:
                _run_here(pending, make_task, record, stop)
            else:
                _run_in_pool(pending, make_task, record, stop, workers, threads, output_file)
        return _finish(rows, params, base, output_file, best_config_file)


def _positive(name: str, value: Optional[int]) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, found {value!r}")
    return value


def _check_tool(tool: str, workers: int, ray: Optional["RaySettings"]) -> Optional["RaySettings"]:
    """The Ray settings when the trials run on Ray (None for hyperopt's own loop); Ray itself must
    be installed before anything else is checked."""
    if tool not in TOOLS:
        raise ConfigError(f"unknown search tool {tool!r}; expected one of {', '.join(TOOLS)}")
    if tool == "hyperopt":
        if ray is not None:
            raise ConfigError("Ray settings (cpus_per_trial, gpus_per_trial, address, scheduler, grace_period, "
                              "reduction_factor) need --tool=ray")
        return None
    from .ray_tune import RaySettings, import_ray

    import_ray()
    if workers != 1:
        raise ConfigError(f"--workers={workers} is for --tool=hyperopt; on Ray, trials run in parallel as the "
                          "cluster's CPUs allow: set --cpus_per_trial")
    return ray if ray is not None else RaySettings()


def _joined_ray(ray: "RaySettings", base: Config):
    """The Ray the search runs on: `--address`, the one this process has joined, else a local one
    with num_threads CPUs (default: the CPUs available)."""
    from ..runtime import default_threads
    from .ray_tune import joined

    return joined(ray, base.num_threads or default_threads())


def _run_on_ray(pending: Iterator[int], planner: "_Planner", template: TrialTask, record: Callable,
                stop: Callable, ray: "RaySettings", capacity: int, base: Config, output_file: str) -> None:
    from .ray_tune import run_on_ray, storage_path, tpe_searcher

    todo = list(pending)
    if not todo:
        return
    if not ray.gpus_per_trial and base.device == "auto":  # a trial without a GPU of its own stays off them
        template = replace(template, fixed={**template.fixed, "device": "cpu"})
    tpe = None
    if planner.suggester is not None and planner.suggester.algo == "bayes":
        tpe = lambda: tpe_searcher(planner.params, base.seed, planner.finished())
    run_on_ray(iter(todo), len(todo), planner.params_for, template, record, stop, ray, capacity, base.epochs,
               base.valid_metric, storage_path(output_file), tpe)


def _check_overlap(params: Sequence[Param], config_dict: Optional[Mapping], cli_args: Optional[Mapping]) -> None:
    """A searched parameter may have a value in a config file (the trial's replaces it) but not be
    fixed explicitly as well: that would be ambiguous."""
    for layer, source in ((cli_args or {}, "the command line"), (config_dict or {}, "config_dict")):
        for p in params:
            if p.name in layer:
                raise ConfigError(f"'{p.name}' is searched ({p.where}) and also fixed on {source}; remove one")


def _check_used(params: Sequence[Param], base: Config) -> None:
    """Searching a key that the model does not have (another model's) would repeat one trial."""
    for p in params:
        if p.name not in base and p.name not in ("model", "dataset"):
            raise ConfigError(f"{p.where}: '{p.name}' is not a setting of model '{base.model}' (see docs/models.md); "
                              "searching it would change nothing")


def _check_values(params: Sequence[Param], model: str, dataset: str, files: Sequence[str], fixed: Mapping) -> None:
    """Every choice value and both ends of every range must be a valid setting, before any training."""
    from .space import decode

    for p in params:
        if p.kind == "choice":
            candidates = list(p.values)
        else:
            ends = [math.exp(v) for v in p.values[:2]] if p.kind == "loguniform" else p.values[:2]
            candidates = [decode([p], {p.name: v})[p.name] for v in ends]
        for value in candidates:
            try:
                load_config(model, dataset, list(files), {**fixed, p.name: value})
            except ConfigError as error:
                raise ConfigError(f"{p.where}: value {value!r} of '{p.name}' is not a valid setting: {error}") from None


def _search_id(base: Config, params: Sequence[Param], algo: str, ray: Optional["RaySettings"] = None) -> str:
    """Identifies a search by what its trials compute: parameters, algorithm, fixed settings, and
    on Ray what changes the trials (ASHA's stopping, Ray Tune's TPE); where a Ray search computes
    what hyperopt's loop does (grid, random), either tool may resume the other's file."""
    names = {p.name for p in params}
    free = result_free_keys()
    fixed = {k: v for k, v in base.to_dict().items() if k not in free and k not in names}
    identity = {"algo": algo, "params": [p.spec() for p in params], "config": fixed}
    if ray is not None and (algo == "bayes" or ray.scheduler != "none"):
        identity["ray"] = {"algo": algo, "scheduler": ray.scheduler, "grace_period": ray.grace_period,
                           "reduction_factor": ray.reduction_factor}
    text = json.dumps(identity, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def trial_logs_folder(output_file: str) -> str:
    """Where a search's trials write their logs (without `log_dir`): `<stem>_logs/` beside the
    results file, so that a search, like a run, is one folder."""
    return str(beside(output_file, "_logs"))


def _best_config_path(output_file: str) -> str:
    return str(beside(output_file, ".best.yaml"))


class _Planner:
    """The parameters of trial `tid`: the tid-th grid point, or a hyperopt suggestion from the
    trials finished so far."""

    def __init__(self, algo: str, params: Sequence[Param], seed: int, rows: Mapping[int, dict]) -> None:
        self.params = list(params)
        self.rows = rows
        self.grid = grid(params) if algo == "exhaustive" else None
        self.suggester = None if algo == "exhaustive" else Suggester(algo, params, seed)

    def params_for(self, tid: int) -> Dict[str, Any]:
        if self.grid is not None:
            return self.grid[tid]
        return self.suggester.suggest(tid, self.finished())

    def finished(self) -> List[dict]:
        """The finished trials as hyperopt learns from them (a failed or stopped one has no loss)."""
        return [{"trial": r["trial"], "params": {p.name: r[p.name] for p in self.params},
                 "loss": -r["valid_score"] if r["status"] == "ok" else None}
                for _, r in sorted(self.rows.items())]


class _Recorder:
    """Saves each finished trial at once and shows the search's progress (a bar over trials and
    one line per trial)."""

    def __init__(self, rows: Dict[int, dict], total: int, output_file: str, names: Sequence[str],
                 valid_metric: str, show: bool) -> None:
        from tqdm import tqdm

        self.rows, self.output_file, self.names = rows, output_file, names
        self.valid_metric, self.show = valid_metric, show
        self.bar = tqdm(total=total, initial=sum(t < total for t in rows), desc="Trials", unit="trial",
                        disable=not show, file=sys.stderr)
        if rows and show:
            self.bar.write(f"resuming {output_file}: {len(rows)} finished trials are kept")

    def __enter__(self) -> "_Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def __call__(self, row: dict) -> None:
        self.rows[row["trial"]] = row
        write_results(self.output_file, self.rows)
        self.bar.update(1)
        best = best_row(list(self.rows.values()))
        if best is not None:
            self.bar.set_postfix_str(f"best {self.valid_metric} {best['valid_score']:.4f} (trial {best['trial']})")
        if self.show:
            self.bar.write(_trial_line(row, self.names, self.valid_metric))


def _stale(rows: Mapping[int, dict]) -> int:
    """Finished trials (in trial order) since the best one; all of them when none succeeded."""
    ordered = [rows[t] for t in sorted(rows)]
    best = best_row(ordered)
    if best is None:
        return len(ordered)
    return sum(r["trial"] > best["trial"] for r in ordered)


def _run_here(pending: Iterator[int], make_task: Callable, record: Callable, stop: Callable) -> None:
    cache = DataCache()
    for tid in pending:
        if stop():
            break
        record(run_trial(make_task(tid), cache))


def _pool_context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _run_in_pool(pending: Iterator[int], make_task: Callable, record: Callable, stop: Callable,
                 workers: int, threads: int, output_file: str) -> None:
    pool = ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=init_worker, initargs=(threads,))
    running = {}
    try:
        def submit() -> bool:
            tid = None if stop() else next(pending, None)
            if tid is not None:
                running[pool.submit(run_trial_in_worker, make_task(tid))] = tid
            return tid is not None

        while len(running) < workers and submit():
            pass
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                running.pop(future)
                record(future.result())
            while len(running) < workers and submit():
                pass
    except BrokenProcessPool:
        raise TrainingError(f"a worker process died (out of memory?); the finished trials are saved in "
                            f"{output_file}: run the same command again to resume") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _trial_line(row: dict, names: Sequence[str], valid_metric: str) -> str:
    values = ", ".join(f"{n}={row[n]!r}" for n in names)
    if row["status"] == "stopped":
        score = "-" if row["valid_score"] is None else f"{row['valid_score']:.4f}"
        return (f"trial {row['trial']} stopped early by the scheduler ({values}) after epoch "
                f"{row.get('epochs_trained')}: valid {valid_metric.lower()} {score}, {row['seconds']:.1f}s")
    if row["status"] != "ok":
        return f"trial {row['trial']} failed ({values}) after {row['seconds']:.1f}s: {row['error']}"
    key = valid_metric.lower()
    return (f"trial {row['trial']} ({values}): valid {key} {row['valid_score']:.4f}, "
            f"test {key} {row.get(f'test_{key}')}, {row['seconds']:.1f}s")


def _finish(rows: Mapping[int, dict], params: Sequence[Param], base: Config, output_file: str,
            best_config_file: str) -> SearchResult:
    trials = [rows[t] for t in sorted(rows)]
    names = [p.name for p in params]
    best = best_row(trials)
    written = None
    if best is not None:
        layers = {"default", "arguments", f"{base.model} defaults", f"{base.dataset} defaults"}
        user_set = {k: base[k] for k in base if base.sources.get(k) not in layers and k not in names}
        fixed = {"model": base.model, "dataset": base.dataset, **user_set}
        key = base.valid_metric.lower()
        comment = (f"Best of {len(trials)} trials of a gru4recf hyper-parameter search ({output_file}): "
                   f"trial {best['trial']}\nvalid {key} {best['valid_score']}, test {key} {best.get('test_' + key)}\n"
                   f"Reproduce: python run.py --config_files={best_config_file}")
        write_best_config(best_config_file, fixed, {n: best[n] for n in names}, comment)
        written = best_config_file
    pick = lambda prefix: ({k[len(prefix):]: v for k, v in best.items() if k.startswith(prefix) and "@" in k}
                           if best else None)
    return SearchResult(
        best_params={n: best[n] for n in names} if best else None,
        best_valid_score=best["valid_score"] if best else None,
        best_valid_result=pick("valid_"), best_test_result=pick("test_"),
        best_trial=best["trial"] if best else None, trials=trials, param_names=names,
        valid_metric=base.valid_metric, output_file=output_file, best_config_file=written)
