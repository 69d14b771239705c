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
import atexit
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Type, Union

from ._pipeline import Prefetch, Tells
from ._wire import Connection, HyperloomError, Unreachable

#: Default lease of an asked trial, in seconds: renewed every third of it.
DEFAULT_LEASE = 30.0
#: Default most trials one ``ask`` request prefetches (the batch grows to it from 1 only while
#: ``ask`` has to wait for the optimizer): enough to hide a commit at thousands of trials a
#: second, few enough that a model-based searcher samples each batch knowing recent results.
DEFAULT_PREFETCH = 64
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
            duration_s=doc.get("duration_s"), reports=doc.get("reports") or [], attempt_log=doc.get("attempt_log") or [])


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
    """The trials this process holds, renewed by one daemon thread every third of the lease.

    The same thread says which prefetched trials ``ask`` handed to the caller (``heartbeat`` with
    ``started``, within ~20 ms, several at once): from then on an expired lease spends one of the
    trial's retries; a prefetched trial never started comes back without spending one."""

    #: Seconds the thread waits after a hand-out for more, so that one message carries them.
    START_COALESCE = 0.02

    def __init__(self, study: "Study") -> None:
        self._study = weakref.ref(study)
        self._held: Dict[int, Trial] = {}
        self._starting: List[Trial] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"hyperloom-leases-{study.id}", daemon=True)
        self._thread.start()

    def hold(self, trial: Trial) -> None:
        with self._lock:
            self._held[trial.number] = trial

    def start(self, trial: Trial) -> None:
        """``trial`` (prefetched) is handed to the caller: say so soon."""
        with self._lock:
            self._starting.append(trial)
        self._wake.set()

    def release(self, trial: Trial) -> None:
        with self._lock:
            self._held.pop(trial.number, None)

    def _beat(self, study: "Study", trials: List[Trial], started: bool) -> None:
        answer = study._request({"op": "heartbeat", "trials": [{"trial": t.number, "attempt": t.attempt} for t in trials],
                                 "started": True if started else None})
        for lost in answer.get("lost") or []:
            with self._lock:
                trial = self._held.pop(int(lost.get("trial", -1)), None)
            if trial is not None:
                trial._lease_lost = lost.get("reason", "the lease expired")

    def _run(self) -> None:
        last_renewal = time.monotonic()
        while not self._stop.is_set():
            study = self._study()
            if study is None:
                return
            interval = max(0.05, min(study.lease / 3, 1.0))
            try:
                with self._lock:
                    starting, self._starting = self._starting, []
                    held = list(self._held.values()) if time.monotonic() - last_renewal >= interval else None
                if starting:
                    self._beat(study, [t for t in starting if t._lease_lost is None], started=True)
                if held is not None:
                    last_renewal = time.monotonic()
                    if held:
                        self._beat(study, held, started=False)
            except HyperloomError:
                pass  # the optimizer is away for now; the next turn tries again
            except Exception:  # the process is shutting down (socket closed)
                return
            del study
            if self._wake.wait(interval):
                self._wake.clear()
                self._stop.wait(self.START_COALESCE)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()


class Study:
    """One study of the optimizer (see :func:`create_study`)."""

    def __init__(self, connection: Connection, study_id: str, lease: float = DEFAULT_LEASE,
                 prefetch: int = DEFAULT_PREFETCH) -> None:
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1 (1: no prefetching), not {prefetch}")
        self._connection = connection
        self.id = study_id
        self.lease = lease
        self._summary: Dict[str, Any] = {}
        self._leases: Optional[_Leases] = None
        self._leases_lock = threading.Lock()
        self._prefetch = Prefetch(self, prefetch)
        self._tells = Tells(self)
        self._closed = False
        self.refresh()
        _open_studies.add(self)

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

        Trials are prefetched (up to ``prefetch`` per request, see :func:`create_study`): each
        is leased from the moment it arrives, and those never used are handed back by
        :meth:`close` (or retried by others after their lease expires, if the process dies).
        When every trial is created and some are held by other processes, the optimizer says
        when one of their leases may expire; ``ask`` waits and asks again, up to ``wait``
        seconds (None: as long as the study runs). Raises :class:`StudyDone` when the study has
        no trial left to hand out (its budget is used, or it ended).
        """
        deadline = None if wait is None else time.monotonic() + wait

        def ask_now(n: int) -> Dict[str, Any]:
            body: Dict[str, Any] = {"op": "ask", "lease_s": self.lease}
            if self._prefetch.limit > 1:
                body["n"] = n
            # Held trials come back when their holder tells them (soon, in another process's
            # optimize) or when their lease expires (`retry_after`): ask again after 50 ms,
            # doubling up to 1 s, never after `retry_after`.
            backoff = 0.05
            while True:
                try:
                    return self._request(body)
                except HyperloomError as error:
                    details = getattr(error, "details", {}) or {}
                    retry = details.get("retry_after")
                    if retry is not None and (deadline is None or time.monotonic() < deadline):
                        pause = min(float(retry), backoff)
                        if deadline is not None:
                            pause = max(0.0, min(pause, deadline - time.monotonic()))
                        time.sleep(pause)
                        backoff = min(1.0, backoff * 2)
                        continue
                    raise StudyDone(str(error)) from None

        if self._closed:
            raise HyperloomError(f"study {self.id} is closed")
        return self._prefetch.take(ask_now)

    def _held(self) -> _Leases:
        with self._leases_lock:
            if self._leases is None:
                self._leases = _Leases(self)
            return self._leases

    def tell(self, trial: Union[Trial, int], value: Optional[float] = None, state: Optional[str] = None,
             wait: bool = False) -> FrozenTrial:
        """Records the result of an asked trial: ``value`` (the study's metric) for a complete
        one, or ``state`` ``failed`` / ``pruned``. A value that is not a finite number records a
        failed trial (with a warning), as Optuna does.

        **Pipelined.** By default the tell is sent without waiting for its answer and the trial
        is returned as told (at most 256 tells wait for their answers at once); the trial keeps
        its lease until the optimizer acknowledges the tell, which it does only once the result
        is committed to its store. :meth:`flush` (and leaving a ``with`` block, :meth:`close`)
        waits for every acknowledgement and raises a refusal (e.g. the lease was lost). With
        ``wait=True`` this tell is waited for: the stored trial is returned, a refusal raised.
        """
        number = trial.number if isinstance(trial, Trial) else int(trial)
        attempt = trial.attempt if isinstance(trial, Trial) else None
        if state is None:
            state = "complete"
        if state not in ("complete", "failed", "pruned"):
            raise ValueError(f"state must be complete, failed or pruned, not {state!r}")
        body: Dict[str, Any] = {"op": "tell", "trial": number, "attempt": attempt, "state": state}
        if value is not None:
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
        body = {k: v for k, v in body.items() if v is not None}
        body["study"] = self.id
        future = self._tells.send(body, trial if isinstance(trial, Trial) else None, report_errors=not wait)
        if wait:
            try:
                answer = future.result(self._connection.timeout)
            except FutureTimeout:
                raise Unreachable(f"tell of trial {number} is not acknowledged after {self._connection.timeout:g} s") from None
            return FrozenTrial.from_document(answer["trial"])
        params = trial.params if isinstance(trial, Trial) else {}
        told = body.get("value")
        return FrozenTrial(number=number, state=body["state"], params=params, value=told,
                           metrics={self.metric: told} if body["state"] == "complete" and self.metric else {},
                           attempts=attempt or 0, source="ask", error=body.get("error"))

    def flush(self, timeout: Optional[float] = None) -> None:
        """Waits until every tell sent so far is acknowledged (durable in the optimizer's
        store); raises the first tell refused since the last flush, or :class:`Unreachable`
        after ``timeout`` seconds (default: the connection's timeout) with tells unanswered."""
        self._tells.flush(timeout)

    # -- optimize -------------------------------------------------------------------------
    def optimize(self, objective: Callable[[Trial], float], n_trials: Optional[int] = None,
                 timeout: Optional[float] = None, n_jobs: int = 1, catch: Union[Type[BaseException], Sequence[Type[BaseException]]] = (),
                 callbacks: Optional[List[Callable[["Study", FrozenTrial], None]]] = None) -> None:
        """Asks, evaluates ``objective(trial)`` and tells, until ``n_trials`` trials were
        evaluated here, ``timeout`` seconds passed, or the study has no trial left; with
        ``n_jobs`` threads at once (-1: one per CPU).

        The objective returns the metric's value; raising :class:`TrialPruned` tells the trial
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
        # Returns with every tell durable, and no trial held that no one will evaluate.
        self._release_unused()
        if errors:
            try:
                self.flush()
            except HyperloomError:
                pass
            raise errors[0]
        self.flush()

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
        return self.tell(trial, value)

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
        columns = (["study", "trial", "state", "value"] + [f"param_{p}" for p in params] + [f"metric_{m}" for m in metrics]
                   + ["attempts", "worker", "source", "created_at", "started_at", "finished_at", "duration_s", "error",
                      "budget", "note", "reports"])
        rows = []
        for t in trials:
            row: Dict[str, Any] = {"study": self.id, "trial": t["number"], "state": t["state"], "value": t.get("value")}
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
        """Waits for every tell's acknowledgement (:meth:`flush`), hands back the prefetched
        trials never used (op ``release``: the next ``ask`` of any process gets them, no retry
        spent), stops renewing leases and closes the connection. Raises what :meth:`flush`
        raises, after closing."""
        if self._closed:
            return
        self._closed = True
        _open_studies.discard(self)
        error: Optional[BaseException] = None
        try:
            self._tells.flush()
        except HyperloomError as e:
            error = e
        self._release_unused()
        if self._leases is not None:
            self._leases.close()
        self._connection.close()
        if error is not None:
            raise error

    def _release_unused(self) -> None:
        """Hands back the prefetched trials not handed out by ``ask`` (op ``release``)."""
        unused = self._prefetch.drain(self._connection.timeout)
        if not unused:
            return
        for trial in unused:
            self._held().release(trial)
        try:
            self._request({"op": "release", "trials": [{"trial": t.number, "attempt": t.attempt} for t in unused]})
        except HyperloomError:
            pass  # their leases expire instead, and they are handed out again then

    def __enter__(self) -> "Study":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except HyperloomError as error:  # the block's own exception matters more
            print(f"hyperloom: closing study {self.id}: {error}", file=sys.stderr)

    def __repr__(self) -> str:
        return f"Study(id={self.id!r}, metric={self.metric!r}, direction={self.direction!r})"


#: Studies not closed yet: closed at interpreter exit, so their tells are flushed and their
#: prefetched trials handed back (a killed process leaves that to the leases).
_open_studies: "weakref.WeakSet[Study]" = weakref.WeakSet()


@atexit.register
def _close_open_studies() -> None:
    for study in list(_open_studies):
        try:
            study.close()
        except Exception as error:  # noqa: BLE001 - exiting: report, do not raise
            print(f"hyperloom: closing study {study.id} at exit: {error}", file=sys.stderr)


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
                 broker_key: Optional[str] = None, timeout: float = 10.0, lease: float = DEFAULT_LEASE,
                 prefetch: int = DEFAULT_PREFETCH) -> Study:
    """Creates a study on the optimizer behind ``broker`` (default ``$HYPERLOOM_BROKER`` or
    ``tcp://127.0.0.1:5555``) and returns it.

    ``spec`` is a dict in the shape of the study YAML (Docs/study-spec.md) or a path to a YAML
    file. A spec without ``trial`` (or ``trial.command``) is **ask-only**: the optimizer runs no
    trial itself, only ``ask``/``tell`` and ``optimize`` do. ``key``/``broker_key`` are CURVE key
    files when the broker authenticates (default ``$HYPERLOOM_KEY``, ``$HYPERLOOM_BROKER_KEY``).
    ``lease``: seconds an asked trial stays held without a heartbeat from this process.
    ``prefetch``: most trials one ask request hands out ahead (1: one trial per ``ask``, no
    prefetching; see :meth:`Study.ask`).
    """
    text, file, base = _spec_text(spec)
    connection = Connection(broker, key=key, broker_key=broker_key, timeout=timeout, name="hyperloom-python")
    try:
        answer = connection.request({"op": "submit", "spec": text, "file": file, "base_dir": base})
        return Study(connection, answer["study"], lease=lease, prefetch=prefetch)
    except BaseException:
        connection.close()
        raise


def load_study(study_id: str, *, broker: Optional[str] = None, key: Optional[str] = None,
               broker_key: Optional[str] = None, timeout: float = 10.0, lease: float = DEFAULT_LEASE,
               prefetch: int = DEFAULT_PREFETCH) -> Study:
    """An existing study by id (``logreg-sgd-1``), e.g. to ``optimize`` it from another process
    (``lease``, ``prefetch``: as for :func:`create_study`)."""
    connection = Connection(broker, key=key, broker_key=broker_key, timeout=timeout, name="hyperloom-python")
    try:
        return Study(connection, study_id, lease=lease, prefetch=prefetch)
    except BaseException:
        connection.close()
        raise
