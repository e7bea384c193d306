"""The search's trials on Ray Tune (`run_hyper.py --tool=ray`): one machine or a Ray cluster.

The search loop stays `hyper_search`'s: the same plan of trials (grid, random draws, or hyperopt's
TPE through Ray Tune's hyperopt searcher), the same results file written by the same recorder
after every finished trial, the same resume rule. Ray only places the trials: each one is a Tune
function trainable that runs `run_trial` where Ray puts it and reports every validation to Tune,
so a scheduler (ASHA) may end a poor trial early. Its results row travels back in its last report;
a trial that ends without one was stopped by the scheduler (status 'stopped', its last validation
score) or died (status 'failed').

Ray is optional (`pip install gru4recf[ray]`): only this module imports it, on first use.
"""
import json
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from ..errors import ConfigError, TrainingError
from .results import beside, make_row, trial_row
from .trial import DataCache, TrialTask, run_trial, _one_line

SCHEDULERS = ("none", "asha")
MISSING = "--tool=ray needs Ray Tune, which is not installed: pip install 'gru4recf[ray]'"
SCORE = "valid_score"  # every report's value of valid_metric (bigger is better for every metric)
EPOCH = "epoch"  # ASHA's clock: epochs trained


@dataclass(frozen=True)
class RaySettings:
    """Where and how the trials run on Ray (the command line's Ray flags)."""

    address: Optional[str] = None  # an existing cluster ('auto', 'host:port'); None: start one here
    cpus_per_trial: int = 1  # Ray CPUs a trial holds; its torch threads
    gpus_per_trial: float = 0.0  # Ray GPUs a trial holds (fractions share one)
    scheduler: str = "none"  # 'asha' stops poor trials at its rungs
    grace_period: int = 1  # ASHA: epochs every trial trains before it may be stopped
    reduction_factor: int = 2  # ASHA: 1 in reduction_factor trials goes on at each rung


def import_ray():
    """The `ray` module, or a ConfigError naming the extra to install."""
    try:
        import ray
        from ray import tune  # noqa: F401 (the extra, not just ray's core)
    except ImportError:
        raise ConfigError(MISSING) from None
    return ray


def check_settings(settings: RaySettings, epochs: int) -> RaySettings:
    """Checks the Ray flags where they enter (before Ray starts)."""
    if isinstance(settings.cpus_per_trial, bool) or not isinstance(settings.cpus_per_trial, int) \
            or settings.cpus_per_trial < 1:
        raise ConfigError(f"cpus_per_trial must be a positive integer, found {settings.cpus_per_trial!r}")
    gpus = settings.gpus_per_trial
    if isinstance(gpus, bool) or not isinstance(gpus, (int, float)) or not math.isfinite(gpus) or gpus < 0:
        raise ConfigError(f"gpus_per_trial must be a number >= 0 (e.g. 1 or 0.5), found {gpus!r}")
    if settings.scheduler not in SCHEDULERS:
        raise ConfigError(f"unknown scheduler {settings.scheduler!r}; expected one of {', '.join(SCHEDULERS)}")
    for name, low in (("grace_period", 1), ("reduction_factor", 2)):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, found {value!r}")
    if settings.scheduler == "asha" and settings.grace_period >= epochs:
        raise ConfigError(f"grace_period {settings.grace_period} is not below epochs {epochs}: ASHA could never "
                          "stop a trial early; lower --grace_period or raise --epochs")
    return settings


# --- in the trial's process (a Ray worker) ----------------------------------------------------

_worker_cache: Optional[DataCache] = None  # one per worker process: Tune reuses its actors


def tune_trial(config: Dict[str, Any], template: TrialTask, cwd: str, epochs: int) -> None:
    """A Tune function trainable: trial `config['tid']` with `config['params']`, reported to Tune
    after every validation but the last; the last report carries the trial's results row."""
    global _worker_cache
    import ray
    from ray import tune

    if os.path.isdir(cwd):  # relative paths mean what they mean to the driver (on its machine)
        os.chdir(cwd)
    if _worker_cache is None:
        _worker_cache = DataCache()
    node = ray.get_runtime_context().get_node_id()
    task = replace(template, tid=config["tid"], params=config["params"])
    last = {EPOCH: 0, SCORE: math.nan}

    def report(epoch: int, score: float, result: dict) -> None:
        last.update({EPOCH: epoch + 1, SCORE: float(score)})
        if epoch + 1 < epochs:  # the last epoch's score comes with the row
            tune.report({**last, "node": node, **{f"valid_{k}": float(v) for k, v in result.items()}})

    row = run_trial(task, _worker_cache, on_validation=report)
    row["node"] = node
    score = row["valid_score"] if row["status"] == "ok" else math.nan
    tune.report({EPOCH: last[EPOCH], SCORE: score, "node": node, "row": json.dumps(row, allow_nan=False)})


# --- in the driver ------------------------------------------------------------------------------

def _trial_plan(tune_searcher):
    """The `Searcher` that hands Tune the search's trials (defined here: Ray is imported late)."""

    class TrialPlan(tune_searcher):
        """Tune's source of trials: the next pending trial of the search, while fewer than
        `max_concurrent` run (TPE learns from finished trials; a killed search loses the least).
        `next_params(tid)` gives the parameters (grid point, random draw); for TPE, `inner` (Ray
        Tune's hyperopt searcher) proposes them and hears every finished trial."""

        def __init__(self, pending: Iterator[int], next_params: Callable[[int], dict], stop: Callable[[], bool],
                     max_concurrent: int, inner=None, decode: Optional[Callable[[dict], dict]] = None) -> None:
            super().__init__(metric=SCORE, mode="max")
            self.pending, self.next_params, self.stop = pending, next_params, stop
            self.max_concurrent, self.inner, self.decode = max_concurrent, inner, decode
            self.live: Dict[str, int] = {}

        def suggest(self, trial_id: str):
            if len(self.live) >= self.max_concurrent:
                return None  # asked again when a trial ends
            tid = None if self.stop() else next(self.pending, None)
            if tid is None:
                return self.FINISHED
            if self.inner is not None:
                params = self.decode(self.inner.suggest(trial_id))
            else:
                params = self.next_params(tid)
            self.live[trial_id] = tid
            return {"tid": tid, "params": params}

        def save(self, checkpoint_path: str) -> None:
            pass  # the search's state is its results file

        def restore(self, checkpoint_path: str) -> None:
            pass

        def on_trial_complete(self, trial_id: str, result: Optional[dict] = None, error: bool = False) -> None:
            self.live.pop(trial_id, None)
            if self.inner is None:
                return
            row = trial_row(result["row"]) if result and "row" in result else None
            score = row["valid_score"] if row is not None and row["status"] == "ok" else (result or {}).get(SCORE)
            if error or score is None or not math.isfinite(score):
                self.inner.on_trial_complete(trial_id, error=True)
            else:
                self.inner.on_trial_complete(trial_id, {SCORE: score})

    return TrialPlan


def _recorder_callback(tune_callback):
    """The Tune `Callback` that turns every ended trial into its results row (for `record`)."""

    class RowRecorder(tune_callback):
        def __init__(self, record: Callable[[dict], None], template: TrialTask, valid_metric: str) -> None:
            self.record, self.template, self.valid_metric = record, template, valid_metric

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            self.record(self._row(trial, "stopped"))

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            self.record(self._row(trial, "failed"))

        def _row(self, trial, status: str) -> dict:
            last = trial.last_result or {}
            row = trial_row(last["row"]) if "row" in last else None
            if row is not None:
                return row
            score = last.get(SCORE)
            score = score if isinstance(score, float) and math.isfinite(score) else None
            valid = {k[len("valid_"):]: v for k, v in last.items() if k.startswith("valid_") and k != SCORE}
            result = {"best_valid_score": score, "best_valid_result": valid} if score is not None else None
            error = None
            if status == "failed":
                problem = trial.get_pickled_error() or trial.get_error()
                error = (f"the trial's Ray worker failed: {_one_line(problem)}" if isinstance(problem, BaseException)
                         else f"the trial's Ray worker failed: {' '.join(str(problem or '').split()[-30:])}")
            row = make_row(trial.config["tid"], trial.config["params"], status, float(last.get("time_total_s", 0.0)),
                           self.template.search_id, self.valid_metric, result, error=error)
            row["epochs_trained"] = last.get(EPOCH)
            row["node"] = last.get("node")
            return row

    return RowRecorder


def _connect(ray, settings: RaySettings, num_cpus: int) -> bool:
    """Joins the running Ray (this process's, or `address`), else starts one on this machine with
    `num_cpus` CPUs; returns whether this call started it (and so must shut it down)."""
    if ray.is_initialized():
        return False
    import logging

    common = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
    try:
        if settings.address:
            ray.init(address=settings.address, **common)
        else:
            ray.init(num_cpus=num_cpus, **common)
    except ConnectionError as error:
        raise ConfigError(f"cannot join the Ray cluster at --address={settings.address}: {_one_line(error)}; "
                          "start it with 'ray start --head' (see docs/search.md)") from None
    return True


def _capacity(ray, settings: RaySettings) -> int:
    """How many trials the cluster can run at once with each trial's resources."""
    resources = ray.cluster_resources()
    slots = int(resources.get("CPU", 0) // settings.cpus_per_trial)
    if settings.gpus_per_trial:
        slots = min(slots, int(resources.get("GPU", 0) // settings.gpus_per_trial))
    if slots < 1:
        raise ConfigError(f"the Ray cluster has {resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} GPUs: "
                          f"not enough for one trial with --cpus_per_trial={settings.cpus_per_trial} "
                          f"--gpus_per_trial={settings.gpus_per_trial:g}")
    return slots


@contextmanager
def joined(settings: RaySettings, num_cpus: int) -> Iterator[int]:
    """Ray for the duration of a search (joined or started, see `_connect`); yields how many
    trials it runs at once, checked before the first trial."""
    ray = import_ray()
    started = _connect(ray, settings, num_cpus)
    try:
        yield _capacity(ray, settings)
    finally:
        if started:
            ray.shutdown()


def run_on_ray(pending: Iterator[int], count: int, next_params: Callable[[int], dict], template: TrialTask,
               record: Callable[[dict], None], stop: Callable[[], bool], settings: RaySettings, capacity: int,
               epochs: int, valid_metric: str, storage: str, tpe: Optional[Callable[[], tuple]] = None) -> None:
    """Runs the `count` pending trials on the Ray that `joined` holds, at most `capacity` at once,
    and `record`s each one as it ends.

    `template` is every trial's task but its number and parameters; `storage` holds Tune's own
    files (per-trial results and errors). `tpe()`, for the bayes algorithm, returns Ray Tune's
    hyperopt searcher (already told the finished trials) and the decoder of its proposals.
    """
    from ray import tune

    inner, decode = tpe() if tpe is not None else (None, None)
    plan = _trial_plan(tune.search.Searcher)(pending, next_params, stop, capacity, inner, decode)
    scheduler = None
    if settings.scheduler == "asha":
        scheduler = tune.schedulers.ASHAScheduler(time_attr=EPOCH, metric=SCORE, mode="max", max_t=epochs,
                                                  grace_period=settings.grace_period,
                                                  reduction_factor=settings.reduction_factor)
    trainable = tune.with_resources(
        tune.with_parameters(tune_trial, template=template, cwd=os.getcwd(), epochs=epochs),
        {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial})
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=plan, scheduler=scheduler, num_samples=count, reuse_actors=True),
        run_config=tune.RunConfig(name=time.strftime("search-%Y%m%d-%H%M%S"), storage_path=storage, verbose=0,
                                  callbacks=[_recorder_callback(tune.Callback)(record, template, valid_metric)],
                                  failure_config=tune.FailureConfig(max_failures=0)))
    import logging

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's console tables: the search prints its own lines
    # Ctrl-C ends the search as with hyperopt (KeyboardInterrupt): the running trials stay unfinished, to be
    # run again on resume, where Tune's own handler would end them and report them complete
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")
    logging.getLogger("ray.tune").setLevel(logging.WARNING)
    try:
        tuner.fit()
    except tune.TuneError as error:
        raise TrainingError(f"Ray Tune stopped the search: {_one_line(error)}; the finished trials are saved: "
                            "run the same command again to resume") from None


def tpe_searcher(params, seed: int, finished: List[dict]):
    """Ray Tune's hyperopt (TPE) searcher over the search's space, told the `finished` trials
    ([{'trial', 'params', 'loss'}], as for `Suggester`) so that a resumed search learns from them."""
    import numpy as np
    from ray.tune.search.hyperopt import HyperOptSearch

    from .space import Suggester, decode, hyperopt_space, trial_seed

    first = max((row["trial"] for row in finished), default=-1) + 1
    # seeded by (seed, first trial): a resumed search does not draw its first trials' points again
    searcher = HyperOptSearch(hyperopt_space(params), metric=SCORE, mode="max",
                              random_state_seed=trial_seed(seed, first))
    if finished:
        history = Suggester("bayes", params, seed).history(finished)
        history.new_trial_ids(first)  # its next proposals get fresh ids
        searcher.set_state({"hyperopt_trials": history,
                            "rstate": np.random.RandomState(trial_seed(seed, first)).get_state()})
    return searcher, lambda raw: decode(params, raw)


def storage_path(output_file: str) -> str:
    """Tune's folder beside the results file: `<stem>_ray/` (absolute, as Tune requires)."""
    return str(beside(str(Path(output_file).resolve()), "_ray"))
