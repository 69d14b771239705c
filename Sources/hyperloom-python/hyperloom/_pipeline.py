"""Fewer round trips and fewer commits per trial: asked trials prefetched in batches
(:class:`Prefetch`) and tells pipelined under a bounded window (:class:`Tells`).

**Durability.** Nothing here weakens what an answer means: the optimizer answers an ``ask`` or a
``tell`` only after the turn that wrote it is committed (synced) to its store, so an
*acknowledged* tell survives any crash; these classes only stop waiting for each answer before
sending the next request. A tell not yet acknowledged may be lost with the process: its trial
keeps its lease until then, so it is handed out again after the lease expires (never counted
twice: a resent tell is answered ``duplicate``). :meth:`Tells.flush` waits until every tell sent
is acknowledged.

**Threading.** Answers arrive on the connection's I/O thread, which runs the done-callbacks
here: they only move trials between lists under a lock and set events. User threads block in
:meth:`Prefetch.take` (one at a time, under ``Prefetch.lock``), :meth:`Tells.send` (window full)
and :meth:`Tells.flush`.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional

from ._wire import HyperloomError, Unreachable

if TYPE_CHECKING:
    from .study import Study, Trial

#: Tells in flight at most before :meth:`Tells.send` waits for an acknowledgement: enough to
#: cover a commit (a few ms) at thousands of tells a second, small enough that a crash leaves
#: little to re-run.
TELL_WINDOW = 256
#: Seconds between resends of a request the broker answered ``unavailable`` (no optimizer).
UNAVAILABLE_RETRY = 0.2


class Prefetch:
    """Asked trials handed out ahead of ``ask``: ``limit`` at most per request, the batch
    doubling (from 1) each time ``ask`` had to wait for the optimizer, and the next batch asked
    for in the background as soon as no more than one batch is ready (so one batch is being
    used while the next one is committed: at most two batches held). Every prefetched trial is leased
    and heartbeated from the moment it arrives; :meth:`drain` hands back those never used
    (``release``)."""

    def __init__(self, study: "Study", limit: int) -> None:
        self.study = study
        self.limit = max(1, limit)
        self.batch = 1
        #: Serialises ``take`` (``optimize`` with several threads).
        self.lock = threading.Lock()
        self._guard = threading.Lock()
        self._ready: Deque["Trial"] = deque()
        self._inflight: Optional["Future[Dict[str, Any]]"] = None
        #: Set once the batch in flight is absorbed (its callback ran), not merely answered.
        self._landed = threading.Event()
        self._landed.set()
        #: The last background ask was refused (wait / exhausted): the next one is synchronous.
        self._refused = False

    def take(self, ask: Callable[[int], Dict[str, Any]]) -> "Trial":
        """The next prefetched trial, waiting for the batch in flight or asking with ``ask(n)``
        (which raises when the optimizer hands out nothing)."""
        with self.lock:
            while True:
                with self._guard:
                    trial = self._ready.popleft() if self._ready else None
                    inflight = self._inflight
                if trial is not None:
                    if self.limit > 1:  # from an ask with "n": unstarted until the optimizer hears
                        self.study._held().start(trial)
                    self._prefetch_if_low()
                    return trial
                if inflight is not None:
                    if not self._landed.wait(self.study._connection.timeout):
                        self.study._connection.forget(inflight)
                        with self._guard:
                            self._inflight = None
                        self._landed.set()
                    self.batch = min(self.limit, self.batch * 2)  # we waited: ask further ahead
                    continue
                answer = ask(self.batch)
                self._refused = False
                self.batch = min(self.limit, self.batch * 2)
                self._absorb(answer)

    def _prefetch_if_low(self) -> None:
        if self.limit <= 1 or self._refused:
            return
        with self._guard:
            if self._inflight is not None or len(self._ready) > self.batch:
                return
            body = {"op": "ask", "lease_s": self.study.lease, "n": self.batch, "study": self.study.id}
            try:
                future = self.study._connection.request_async(body)
            except HyperloomError:
                return
            self._inflight = future
            self._landed.clear()
        future.add_done_callback(self._arrived)

    def _arrived(self, future: "Future[Dict[str, Any]]") -> None:
        """On the I/O thread: a background batch's trials join the ready ones (held at once)."""
        try:
            answer = future.result()
        except Exception:  # noqa: BLE001 - the connection closed: nothing was handed out
            answer = {"error": "closed"}
        if "error" in answer:
            self._refused = True
        else:
            self._absorb(answer)
        with self._guard:
            if self._inflight is future:
                self._inflight = None
                self._landed.set()

    def _absorb(self, answer: Dict[str, Any]) -> None:
        from .study import Trial
        entries = answer.get("trials")
        if entries is None:  # the single-trial shape (an ask without "n")
            entries = [answer]
        trials = [Trial(self.study, int(e["trial"]), int(e.get("attempt", 1)), e.get("config") or {}) for e in entries]
        held = self.study._held()
        for trial in trials:
            held.hold(trial)
        with self._guard:
            self._ready.extend(trials)

    def drain(self, timeout: float) -> List["Trial"]:
        """Waits for the batch in flight (up to ``timeout`` s) and takes every unused trial."""
        self._landed.wait(timeout)
        with self._guard:
            unused, self._ready = list(self._ready), deque()
            self._inflight = None
        return unused


class Tells:
    """Tells sent without waiting for their answers, at most :data:`TELL_WINDOW` in flight.
    An acknowledged trial leaves the lease heartbeat; a refused tell is kept and raised by the
    next :meth:`flush` (or returned to a waiting ``tell(wait=True)`` instead)."""

    def __init__(self, study: "Study", window: int = TELL_WINDOW) -> None:
        self.study = study
        self._window = threading.BoundedSemaphore(window)
        self._idle = threading.Condition()
        self._inflight = 0
        self._errors: List[HyperloomError] = []
        #: Tells acknowledged so far (durable in the optimizer's store).
        self.acknowledged = 0

    def send(self, body: Dict[str, Any], trial: Optional["Trial"], report_errors: bool = True) -> "Future[Dict[str, Any]]":
        """Sends a tell; the future gets its answer once it is durable (or refused).
        ``report_errors``: a refusal is kept for :meth:`flush` (else only the future has it)."""
        timeout = self.study._connection.timeout
        if not self._window.acquire(timeout=timeout):
            raise Unreachable(f"no tell was acknowledged within {timeout:g} s ({TELL_WINDOW} in flight)")
        with self._idle:
            self._inflight += 1
        result: "Future[Dict[str, Any]]" = Future()
        self._post(body, trial, result, report_errors)
        return result

    def _post(self, body: Dict[str, Any], trial: Optional["Trial"], result: "Future[Dict[str, Any]]", report_errors: bool) -> None:
        try:
            future = self.study._connection.request_async(body)
        except HyperloomError as error:
            self._finish(trial, result, error, report_errors)
            return
        future.add_done_callback(lambda f: self._answered(f, body, trial, result, report_errors))

    def _answered(self, future: "Future[Dict[str, Any]]", body: Dict[str, Any], trial: Optional["Trial"],
                  result: "Future[Dict[str, Any]]", report_errors: bool) -> None:
        try:
            answer = future.result()
        except HyperloomError as error:
            self._finish(trial, result, error, report_errors)
            return
        if answer.get("unavailable"):  # no optimizer connected now: send it again shortly
            timer = threading.Timer(UNAVAILABLE_RETRY, self._post, (body, trial, result, report_errors))
            timer.daemon = True
            timer.start()
            return
        try:
            self._finish(trial, result, self.study._connection.interpret(answer), report_errors)
        except HyperloomError as error:
            self._finish(trial, result, error, report_errors)

    def _finish(self, trial: Optional["Trial"], result: "Future[Dict[str, Any]]", outcome: Any, report_errors: bool) -> None:
        if trial is not None:
            self.study._held().release(trial)
        if isinstance(outcome, HyperloomError):
            if report_errors:
                with self._idle:
                    self._errors.append(outcome)
            result.set_exception(outcome)
        else:
            with self._idle:
                self.acknowledged += 1
            result.set_result(outcome)
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()
        self._window.release()

    @property
    def inflight(self) -> int:
        """Tells sent and not yet answered."""
        with self._idle:
            return self._inflight

    def flush(self, timeout: Optional[float] = None) -> None:
        """Waits until every tell sent is answered, then raises the first refusal since the
        last flush (:class:`Unreachable` when answers are still missing after ``timeout`` s)."""
        timeout = self.study._connection.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Unreachable(f"{self._inflight} tells are not acknowledged after {timeout:g} s "
                                      f"(broker {self.study._connection.endpoint}); a tell may be sent again")
                self._idle.wait(left)
            errors, self._errors = self._errors, []
        if errors:
            raise errors[0]
