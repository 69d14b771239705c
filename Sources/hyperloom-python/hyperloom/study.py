"""Studies from Python, in Optuna's shape: ``create_study`` / ``load_study``, ``ask`` / ``tell``,
``optimize``, ``best_*``, ``trials``, ``trials_dataframe``.

A :class:`Study` talks to the optimizer through the broker (``op`` requests of Docs/protocol.md,
section 6). A trial from :meth:`Study.ask` holds a **lease** that a background thread renews
(op ``heartbeat``) while the trial is held; when the process dies the lease expires and the
optimizer offers the same trial (same number and config, next attempt) to the next ``ask``, so
no trial stays running forever and ``optimize`` in several processes shares one study.
"""
from __future__ import annotations

import math
import os
import sys
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Type, Union

from ._wire import Connection, HyperloomError, Unreachable

#: Default lease of an asked trial, in seconds: renewed every third of it.
DEFAULT_LEASE = 30.0
FINISHED_STATES = ("complete", "pruned", "failed", "cancelled")


class TrialPruned(Exception):
    """Raise from an objective when :meth:`Trial.should_prune` says so (as in Optuna):
    ``optimize`` tells the trial ``pruned``."""


class LeaseLost(HyperloomError):
    """The trial's lease expired (the process stalled longer than the lease) and the trial was
    offered to another ``ask``: this attempt's result is no longer accepted."""


@dataclass(frozen=True)
class FrozenTrial:
    """A trial as the optimizer stores it (one element of ``study.trials``)."""

    number: int
    state: str
    params: Dict[str, Any]
    value: Optional[float]
    metrics: Dict[str, Any]
    attempts: int
    source: str
    worker: Optional[str] = None
    error: Optional[str] = None
    note: Optional[str] = None
    budget: Optional[float] = None
    created_at: Optional[float] = None
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    duration_s: Optional[float] = None
    reports: List[Dict[str, Any]] = field(default_factory=list)
    attempt_log: List[Dict[str, Any]] = field(default_factory=list)
    #: Several objectives: every objective's value, in the spec's ``metrics`` order.
    values: Optional[List[float]] = None
    #: Constraints: whether the trial kept them (None: no constraints, or not complete).
    feasible: Optional[bool] = None
    #: Several objectives or constraints: the trial's Pareto front rank (0: on the front).
    front: Optional[int] = None

    @property
    def config(self) -> Dict[str, Any]:
        """The same as ``params`` (Hyperloom's word)."""
        return self.params

    @staticmethod
    def from_document(doc: Dict[str, Any]) -> "FrozenTrial":
        """From one trial of a ``trials`` or ``export`` answer."""
        return FrozenTrial(
            number=int(doc["number"]), state=doc["state"], params=doc.get("config") or {}, value=doc.get("value"),
            metrics=doc.get("metrics") or {}, attempts=int(doc.get("attempts", 0)), source=doc.get("source", ""),
            worker=doc.get("worker"), error=doc.get("error"), note=doc.get("note"), budget=doc.get("budget"),
            created_at=doc.get("created_at"), started_at=doc.get("started_at"), finished_at=doc.get("finished_at"),
            duration_s=doc.get("duration_s"), reports=doc.get("reports") or [], attempt_log=doc.get("attempt_log") or [],
            values=doc.get("values"), feasible=doc.get("feasible"),
            front=None if doc.get("front") is None else int(doc["front"]))


class Trial:
    """A trial handed out by :meth:`Study.ask`: evaluate ``params``, then ``study.tell(trial, value)``.

    While it is held (until told) its lease is renewed in the background.
    """

    def __init__(self, study: "Study", number: int, attempt: int, params: Dict[str, Any]) -> None:
        self.study = study
        self.number = number
        self.attempt = attempt
        self.params: Dict[str, Any] = params
        self._verdict: Optional[str] = None
        self._lease_lost: Optional[str] = None

    @property
    def config(self) -> Dict[str, Any]:
        """The same as ``params``."""
        return self.params

    def report(self, value: float, step: Optional[float] = None, **metrics: Any) -> None:
        """Reports an intermediate ``value`` of the study's metric at ``step`` (the scheduler's
        resource, e.g. the epoch); ``metrics`` adds other keys. The study's scheduler (ASHA,
        median stopping, …) decides at once; :meth:`should_prune` returns its verdict."""
        answer = self.study._request({"op": "report", "trial": self.number, "attempt": self.attempt,
                                      "value": float(value), "step": step, "metrics": metrics or None})
        self._verdict = answer.get("reason") if answer.get("should_prune") else None

    def should_prune(self) -> bool:
        """Whether the study's scheduler stops this trial after its last report."""
        return self._verdict is not None

    @property
    def prune_reason(self) -> Optional[str]:
        """Why the scheduler stops the trial, when it does."""
        return self._verdict

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, attempt={self.attempt}, params={self.params!r})"


class _Leases:
    """The trials this process holds, renewed by one daemon thread every third of the lease."""

    def __init__(self, study: "Study") -> None:
        self._study = weakref.ref(study)
        self._held: Dict[int, Trial] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"hyperloom-leases-{study.id}", daemon=True)
        self._thread.start()

    def hold(self, trial: Trial) -> None:
        with self._lock:
            self._held[trial.number] = trial

    def release(self, trial: Trial) -> None:
        with self._lock:
            self._held.pop(trial.number, None)

    def _run(self) -> None:
        while not self._stop.is_set():
            study = self._study()
            if study is None:
                return
            interval = max(0.05, min(study.lease / 3, 1.0))
            try:
                with self._lock:
                    held = list(self._held.values())
                if held:
                    answer = study._request({"op": "heartbeat", "trials": [{"trial": t.number, "attempt": t.attempt} for t in held]})
                    for lost in answer.get("lost") or []:
                        with self._lock:
                            trial = self._held.pop(int(lost.get("trial", -1)), None)
                        if trial is not None:
                            trial._lease_lost = lost.get("reason", "the lease expired")
                else:
                    study._connection.keep_alive()
            except HyperloomError:
                pass  # the optimizer is away for now; the next turn tries again
            except Exception:  # the process is shutting down (socket closed)
                return
            del study
            self._stop.wait(interval)

    def close(self) -> None:
        self._stop.set()


class Study:
    """One study of the optimizer (see :func:`create_study`)."""

    def __init__(self, connection: Connection, study_id: str, lease: float = DEFAULT_LEASE) -> None:
        self._connection = connection
        self.id = study_id
        self.lease = lease
        self._summary: Dict[str, Any] = {}
        self._leases: Optional[_Leases] = None
        self._leases_lock = threading.Lock()
        self.refresh()

    # -- requests -------------------------------------------------------------------------
    def _request(self, body: Dict[str, Any], timeout: Optional[float] = None) -> Dict[str, Any]:
        body = {k: v for k, v in body.items() if v is not None}
        body["study"] = self.id
        return self._connection.request(body, timeout)

    def refresh(self) -> Dict[str, Any]:
        """Fetches the study's summary (state, counts, best, metric, mode) and returns it."""
        self._summary = self._request({"op": "status"})
        return self._summary

    @property
    def name(self) -> str:
        return self._summary.get("name", self.id)

    @property
    def metric(self) -> str:
        return self._summary.get("metric", "")

    @property
    def direction(self) -> str:
        """``minimize`` or ``maximize`` (Optuna's words for the spec's ``mode``)."""
        return "maximize" if self._summary.get("mode") == "max" else "minimize"

    @property
    def metric_names(self) -> List[str]:
        """Every objective's metric key, in the spec's order (one for a single-objective study)."""
        objectives = self._summary.get("objectives")
        return [o["name"] for o in objectives] if objectives else [self.metric]

    @property
    def directions(self) -> List[str]:
        """``minimize`` / ``maximize`` per objective (Optuna's ``study.directions``)."""
        objectives = self._summary.get("objectives")
        if not objectives:
            return [self.direction]
        return ["maximize" if o.get("mode") == "max" else "minimize" for o in objectives]

    @property
    def state(self) -> str:
        """``running``, ``complete``, ``failed`` or ``cancelled`` (fetched now)."""
        return self.refresh().get("state", "")

    @property
    def reason(self) -> Optional[str]:
        """Why the study ended, once it has."""
        return self._summary.get("reason")

    # -- ask / tell -----------------------------------------------------------------------
    def ask(self, wait: Optional[float] = None) -> Trial:
        """A trial to evaluate: ``.number`` and ``.params``. Its lease is renewed in the
        background until :meth:`tell`.

        When every trial is created and some are held by other processes, the optimizer says
        when one of their leases may expire; ``ask`` waits and asks again, up to ``wait``
        seconds (None: as long as the study runs). Raises :class:`StudyDone` when the study has
        no trial left to hand out (its budget is used, or it ended).
        """
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                answer = self._request({"op": "ask", "lease_s": self.lease})
            except HyperloomError as error:
                details = getattr(error, "details", {}) or {}
                retry = details.get("retry_after")
                if retry is not None and (deadline is None or time.monotonic() < deadline):
                    time.sleep(min(float(retry), 1.0) if deadline is None else max(0.0, min(float(retry), 1.0, deadline - time.monotonic())))
                    continue
                raise StudyDone(str(error)) from None
            trial = Trial(self, int(answer["trial"]), int(answer.get("attempt", 1)), answer.get("config") or {})
            self._held().hold(trial)
            return trial

    def _held(self) -> _Leases:
        with self._leases_lock:
            if self._leases is None:
                self._leases = _Leases(self)
            return self._leases

    def tell(self, trial: Union[Trial, int], value: Union[None, float, Sequence[float], Dict[str, float]] = None,
             state: Optional[str] = None) -> FrozenTrial:
        """Records the result of an asked trial: ``value`` (the study's metric) for a complete
        one, or ``state`` ``failed`` / ``pruned``. A value that is not a finite number records a
        failed trial (with a warning), as Optuna does.

        A study with several objectives takes a sequence of values in the spec's ``metrics``
        order (Optuna's ``values``), or a dict of metric values, which must also hold every
        constrained metric when the spec has ``constraints``."""
        number = trial.number if isinstance(trial, Trial) else int(trial)
        attempt = trial.attempt if isinstance(trial, Trial) else None
        if state is None:
            state = "complete"
        if state not in ("complete", "failed", "pruned"):
            raise ValueError(f"state must be complete, failed or pruned, not {state!r}")
        body: Dict[str, Any] = {"op": "tell", "trial": number, "attempt": attempt, "state": state}
        if isinstance(value, (list, tuple, dict)):
            metrics = self._metrics(value)
            bad = [k for k, v in metrics.items() if not math.isfinite(v)]
            if bad and state == "complete":
                print(f"hyperloom: trial {number} returned non-finite {', '.join(bad)}: told as failed", file=sys.stderr)
                body["state"] = "failed"
                body["error"] = f"the objective returned a non-finite {', '.join(bad)}"
            elif state == "complete":
                body["metrics"] = metrics
        elif value is not None:
            try:
                number_value = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"tell: the value must be a number, not {type(value).__name__}") from None
            if math.isfinite(number_value):
                body["value"] = number_value
            elif state == "complete":
                print(f"hyperloom: trial {number} returned {number_value}: told as failed", file=sys.stderr)
                body["state"] = "failed"
                body["error"] = f"the objective returned {number_value}"
        elif state == "complete":
            raise ValueError("tell: a complete trial needs a value")
        if isinstance(trial, Trial) and trial._lease_lost:
            self._held().release(trial)
            raise LeaseLost(f"trial {number} attempt {trial.attempt}: {trial._lease_lost}")
        try:
            answer = self._request(body)
        finally:
            if isinstance(trial, Trial):
                self._held().release(trial)
        return FrozenTrial.from_document(answer["trial"])

    def _metrics(self, value: Union[Sequence[float], Dict[str, float]]) -> Dict[str, float]:
        """A sequence of objective values or a dict of metrics, as the metrics object ``tell`` sends."""
        if isinstance(value, dict):
            try:
                return {str(k): float(v) for k, v in value.items()}
            except (TypeError, ValueError):
                raise TypeError("tell: every metric value must be a number") from None
        names = self.metric_names
        if len(value) != len(names):
            raise ValueError(f"tell: this study has {len(names)} objective(s) ({', '.join(names)}), got {len(value)} values")
        try:
            return {name: float(v) for name, v in zip(names, value)}
        except (TypeError, ValueError):
            raise TypeError("tell: every objective value must be a number") from None

    # -- optimize -------------------------------------------------------------------------
    def optimize(self, objective: Callable[[Trial], Any], n_trials: Optional[int] = None,
                 timeout: Optional[float] = None, n_jobs: int = 1, catch: Union[Type[BaseException], Sequence[Type[BaseException]]] = (),
                 callbacks: Optional[List[Callable[["Study", FrozenTrial], None]]] = None) -> None:
        """Asks, evaluates ``objective(trial)`` and tells, until ``n_trials`` trials were
        evaluated here, ``timeout`` seconds passed, or the study has no trial left; with
        ``n_jobs`` threads at once (-1: one per CPU).

        The objective returns the metric's value (several objectives: a sequence in the spec's
        ``metrics`` order, or a dict of metrics that also holds the constrained ones); raising :class:`TrialPruned` tells the trial
        pruned. Any other exception tells it failed and is raised again unless it is one of
        ``catch``. Other processes may optimize the same study at the same time: each trial is
        handed out once (again only when its holder's lease expired).
        """
        if n_jobs == -1:
            n_jobs = os.cpu_count() or 1
        if n_jobs < 1:
            raise ValueError("n_jobs must be at least 1 (or -1)")
        catch = tuple(catch) if isinstance(catch, (list, tuple)) else ((catch,) if catch else ())
        deadline = None if timeout is None else time.monotonic() + timeout
        budget = [n_trials]
        lock = threading.Lock()
        errors: List[BaseException] = []

        def take() -> bool:
            with lock:
                if errors or (budget[0] is not None and budget[0] <= 0):
                    return False
                if budget[0] is not None:
                    budget[0] -= 1
                return True

        def loop() -> None:
            while take():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return
                try:
                    trial = self.ask(wait=left)
                except StudyDone:
                    return
                try:
                    frozen = self._run(objective, trial, catch)
                except BaseException as error:
                    with lock:
                        errors.append(error)
                    return
                for callback in callbacks or []:
                    callback(self, frozen)

        if n_jobs == 1:
            loop()
        else:
            with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="hyperloom-optimize") as pool:
                for future in [pool.submit(loop) for _ in range(n_jobs)]:
                    future.result()
        if errors:
            raise errors[0]

    def _run(self, objective: Callable[[Trial], float], trial: Trial, catch: Tuple[Type[BaseException], ...]) -> FrozenTrial:
        try:
            value = objective(trial)
        except TrialPruned:
            return self.tell(trial, state="pruned")
        except catch as error:
            print(f"hyperloom: trial {trial.number} failed: {error!r}", file=sys.stderr)
            return self.tell(trial, state="failed")
        except BaseException:
            try:
                self.tell(trial, state="failed")
            except HyperloomError:
                pass
            raise
        if value is None:
            return self.tell(trial, state="failed")
        return self.tell(trial, value)  # a sequence or dict for several objectives

    # -- results --------------------------------------------------------------------------
    @property
    def trials(self) -> List[FrozenTrial]:
        """Every trial, by number (fetched now)."""
        return [FrozenTrial.from_document(t) for t in self._request({"op": "trials"}).get("trials", [])]

    def export(self) -> List[FrozenTrial]:
        """Every trial with its intermediate ``reports`` and its ``attempt_log`` (``hyperloom export``)."""
        return [FrozenTrial.from_document(t) for t in self._request({"op": "export"}).get("trials", [])]

    def get_trials(self, states: Optional[Iterable[str]] = None) -> List[FrozenTrial]:
        """The trials in ``states`` (all when None)."""
        wanted = None if states is None else set(states)
        return [t for t in self.trials if wanted is None or t.state in wanted]

    @property
    def best_trial(self) -> FrozenTrial:
        """The best complete trial; ``ValueError`` when none is complete yet."""
        best = self.refresh().get("best")
        if not best:
            raise ValueError(f"study {self.id} has no complete trial yet")
        return FrozenTrial.from_document(best)

    @property
    def best_trials(self) -> List[FrozenTrial]:
        """The Pareto front (Optuna's ``study.best_trials``): the complete trials no other
        feasible trial dominates, feasible ones only once any trial is feasible. A
        single-objective study gives its best trial (or nothing)."""
        summary = self.refresh()
        if "pareto" not in summary:
            best = summary.get("best")
            return [FrozenTrial.from_document(best)] if best else []
        return [t for t in self.trials if t.front == 0]

    @property
    def best_params(self) -> Dict[str, Any]:
        return self.best_trial.params

    @property
    def best_value(self) -> float:
        value = self.best_trial.value
        assert value is not None
        return value

    def trials_dataframe(self) -> Any:
        """A pandas DataFrame with the columns of ``hyperloom export --format csv``: ``study``,
        ``trial``, ``state``, ``value``, ``param_<name>``…, ``metric_<key>``…, ``attempts``,
        ``worker``, ``source``, ``created_at``, ``started_at``, ``finished_at``, ``duration_s``,
        ``error``, ``budget``, ``note``, ``reports`` (a list of the intermediate metrics).
        Needs pandas (``pip install 'hyperloom[pandas]'``); :meth:`trials_rows` gives the rows
        without it."""
        try:
            import pandas
        except ImportError:
            raise ImportError("trials_dataframe() needs pandas: pip install pandas "
                              "(or use study.trials_rows(), the same rows as dicts)") from None
        rows, columns = self._rows()
        return pandas.DataFrame(rows, columns=columns)

    def trials_rows(self) -> List[Dict[str, Any]]:
        """The rows of :meth:`trials_dataframe` as dicts."""
        return self._rows()[0]

    def _rows(self) -> Tuple[List[Dict[str, Any]], List[str]]:
        doc = self._request({"op": "export"})
        trials = doc.get("trials", [])
        params = sorted({k for t in trials for k in (t.get("config") or {})})
        metrics = sorted({k for t in trials for k in (t.get("metrics") or {})})
        objectives = [o["name"] for o in (doc.get("study") or {}).get("objectives") or []]
        objective_columns = [f"objective_{o}" for o in objectives] + (["feasible", "front"] if objectives else [])
        columns = (["study", "trial", "state", "value"] + objective_columns + [f"param_{p}" for p in params] + [f"metric_{m}" for m in metrics]
                   + ["attempts", "worker", "source", "created_at", "started_at", "finished_at", "duration_s", "error",
                      "budget", "note", "reports"])
        rows = []
        for t in trials:
            row: Dict[str, Any] = {"study": self.id, "trial": t["number"], "state": t["state"], "value": t.get("value")}
            values = t.get("values") or []
            for i, o in enumerate(objectives):
                row[f"objective_{o}"] = values[i] if i < len(values) else None
            if objectives:
                row["feasible"] = t.get("feasible")
                row["front"] = t.get("front")
            for p in params:
                row[f"param_{p}"] = (t.get("config") or {}).get(p)
            for m in metrics:
                row[f"metric_{m}"] = (t.get("metrics") or {}).get(m)
            for key in ("attempts", "worker", "source", "created_at", "started_at", "finished_at", "duration_s", "error",
                        "budget", "note"):
                row[key] = t.get(key)
            row["reports"] = [r.get("metrics") for r in t.get("reports") or [] if r.get("kind") == "report"]
            rows.append(row)
        return rows, columns

    # -- the study's life -----------------------------------------------------------------
    def wait(self, timeout: Optional[float] = None, poll: float = 0.5) -> str:
        """Waits until the study ends; returns its state. ``TimeoutError`` after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            state = self.state
            if state in FINISHED_STATES:
                return state
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"study {self.id} is still {state} after {timeout:g} s")
            time.sleep(poll)

    def cancel(self) -> Dict[str, Any]:
        """Ends the study now: its running trials are cancelled. Returns the final summary."""
        self._summary = self._request({"op": "cancel"})
        return self._summary

    def close(self) -> None:
        """Stops renewing leases and closes the connection."""
        if self._leases is not None:
            self._leases.close()
        self._connection.close()

    def __enter__(self) -> "Study":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Study(id={self.id!r}, metric={self.metric!r}, direction={self.direction!r})"


class StudyDone(HyperloomError):
    """``ask`` found no trial to hand out: the study's budget is used or the study ended."""


def _spec_text(spec: Union[str, os.PathLike, Dict[str, Any]]) -> Tuple[str, str, str]:
    """(YAML text, file name for errors, base directory) of a spec given as a dict or a path."""
    import json
    if isinstance(spec, dict):
        # JSON is YAML: the optimizer parses it as the same document.
        return json.dumps(spec, allow_nan=False), "<dict>", os.getcwd()
    path = Path(spec)
    try:
        text = path.read_text()
    except OSError as error:
        raise HyperloomError(f"cannot read the study spec {path}: {error.strerror}") from None
    return text, str(path), str(path.resolve().parent)


def create_study(spec: Union[str, os.PathLike, Dict[str, Any]], *, broker: Optional[str] = None, key: Optional[str] = None,
                 broker_key: Optional[str] = None, timeout: float = 10.0, lease: float = DEFAULT_LEASE) -> Study:
    """Creates a study on the optimizer behind ``broker`` (default ``$HYPERLOOM_BROKER`` or
    ``tcp://127.0.0.1:5555``) and returns it.

    ``spec`` is a dict in the shape of the study YAML (Docs/study-spec.md) or a path to a YAML
    file. A spec without ``trial`` (or ``trial.command``) is **ask-only**: the optimizer runs no
    trial itself, only ``ask``/``tell`` and ``optimize`` do. ``key``/``broker_key`` are CURVE key
    files when the broker authenticates (default ``$HYPERLOOM_KEY``, ``$HYPERLOOM_BROKER_KEY``).
    ``lease``: seconds an asked trial stays held without a heartbeat from this process.
    """
    text, file, base = _spec_text(spec)
    connection = Connection(broker, key=key, broker_key=broker_key, timeout=timeout, name="hyperloom-python")
    try:
        answer = connection.request({"op": "submit", "spec": text, "file": file, "base_dir": base})
        return Study(connection, answer["study"], lease=lease)
    except BaseException:
        connection.close()
        raise


def load_study(study_id: str, *, broker: Optional[str] = None, key: Optional[str] = None,
               broker_key: Optional[str] = None, timeout: float = 10.0, lease: float = DEFAULT_LEASE) -> Study:
    """An existing study by id (``logreg-sgd-1``), e.g. to ``optimize`` it from another process."""
    connection = Connection(broker, key=key, broker_key=broker_key, timeout=timeout, name="hyperloom-python")
    try:
        return Study(connection, study_id, lease=lease)
    except BaseException:
        connection.close()
        raise
