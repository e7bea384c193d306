"""Where trials come from: the `choice` grid enumerated directly (exhaustive), or hyperopt's
random sampling and TPE over the same parameters (random, bayes)."""
import itertools
import math
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np

from ..errors import ConfigError
from .params import Param

ALGOS = ("exhaustive", "random", "bayes")


def check_algo(algo: str, params: Sequence[Param]) -> str:
    """The algorithm name, checked against the parameters it must handle."""
    if algo not in ALGOS:
        raise ConfigError(f"unknown search algorithm {algo!r}; expected one of {', '.join(ALGOS)}")
    if algo == "exhaustive":
        ranged = [p for p in params if p.kind != "choice"]
        if ranged:
            p = ranged[0]
            raise ConfigError(f"{p.where}: exhaustive search needs every parameter to be a choice list, "
                              f"but '{p.name}' is {p.kind}; list its values with choice, or use "
                              "--algo=random or --algo=bayes")
    return algo


def grid(params: Sequence[Param]) -> List[Dict[str, Any]]:
    """Every combination of the choice values, once each, the last parameter varying fastest."""
    names = [p.name for p in params]
    return [dict(zip(names, combo)) for combo in itertools.product(*(p.values for p in params))]


def grid_size(params: Sequence[Param]) -> int:
    return math.prod(len(p.values) for p in params)


def hyperopt_space(params: Sequence[Param]) -> dict:
    """The hyperopt search space. A choice is sampled as the index of its value, so hyperopt never
    sees (or rebuilds) the values themselves."""
    from hyperopt import hp

    space = {}
    for p in params:
        if p.kind == "choice":
            space[p.name] = hp.choice(p.name, list(range(len(p.values))))
        elif p.kind == "uniform":
            space[p.name] = hp.uniform(p.name, *p.values)
        elif p.kind == "quniform":
            space[p.name] = hp.quniform(p.name, *p.values)
        else:
            space[p.name] = hp.loguniform(p.name, *p.values)
    return space


def decode(params: Sequence[Param], vals: Mapping[str, Any]) -> Dict[str, Any]:
    """hyperopt's raw values (choice index, sampled number) -> the trial's config values."""
    values = {}
    for p in params:
        raw = vals[p.name]
        if p.kind == "choice":
            values[p.name] = p.values[int(raw)]
        elif p.kind == "quniform":
            step = p.values[2]
            snapped = round(float(raw) / step) * step
            values[p.name] = int(round(snapped)) if p.integral else round(snapped, 12)
        else:
            values[p.name] = float(raw)
    return values


def encode(params: Sequence[Param], values: Mapping[str, Any]) -> Dict[str, Any]:
    """The inverse of `decode` (to give hyperopt the history read back from a results file)."""
    vals = {}
    for p in params:
        value = values[p.name]
        if p.kind == "choice":
            index = next((i for i, v in enumerate(p.values) if type(v) is type(value) and v == value), None)
            if index is None:
                raise ConfigError(f"value {value!r} of '{p.name}' is not among its choices at {p.where}")
            vals[p.name] = index
        else:
            vals[p.name] = float(value)
    return vals


def trial_seed(seed: int, tid: int) -> int:
    """The sampler's seed for trial `tid`: depends on nothing else, so a resumed or parallel
    search draws what an uninterrupted one would have drawn."""
    return int(np.random.default_rng([seed, tid]).integers(2 ** 31 - 1))


class Suggester:
    """Proposes the parameters of trial `tid` from the finished trials (random or TPE)."""

    def __init__(self, algo: str, params: Sequence[Param], seed: int) -> None:
        from hyperopt import Domain

        self.algo = algo
        self.params = list(params)
        self.seed = seed
        self.domain = Domain(lambda _: None, hyperopt_space(params))

    def suggest(self, tid: int, finished: Sequence[Mapping]) -> Dict[str, Any]:
        """`finished`: [{'trial': tid, 'params': {...}, 'loss': float or None (failed)}]."""
        from hyperopt import rand, tpe

        trials = self.history(finished)
        seed = trial_seed(self.seed, tid)
        if self.algo == "bayes":
            (doc,) = tpe.suggest([tid], self.domain, trials, seed, verbose=False)
        else:
            (doc,) = rand.suggest([tid], self.domain, trials, seed)
        return decode(self.params, {name: v[0] for name, v in doc["misc"]["vals"].items()})

    def history(self, finished: Sequence[Mapping]):
        """The `finished` trials as a hyperopt `Trials` (what TPE learns from)."""
        from hyperopt import JOB_STATE_DONE, STATUS_FAIL, STATUS_OK, Trials

        trials = Trials()
        docs = []
        for row in finished:
            tid = row["trial"]
            vals = encode(self.params, row["params"])
            misc = {"tid": tid, "cmd": self.domain.cmd, "workdir": None,
                    "idxs": {name: [tid] for name in vals}, "vals": {name: [v] for name, v in vals.items()}}
            result = ({"status": STATUS_FAIL} if row["loss"] is None
                      else {"status": STATUS_OK, "loss": row["loss"]})
            (doc,) = trials.new_trial_docs([tid], [None], [result], [misc])
            doc["state"] = JOB_STATE_DONE
            docs.append(doc)
        trials.insert_trial_docs(docs)
        trials.refresh()
        return trials
