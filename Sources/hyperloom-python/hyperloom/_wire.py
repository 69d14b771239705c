"""The client side of the Hyperloom wire protocol (Docs/protocol.md, sections 1, 4 and 5): one
DEALER connection to the broker that says HELLO, heartbeats, and carries REQUESTs to the
optimizer service and their REPLYs.

**Threading.** A ZeroMQ socket must not be used by two threads at once: after registering, the
socket belongs to one I/O thread per connection, which sends what :meth:`Connection.request`
queues, hands each REPLY to the request waiting for it, and heartbeats. Any number of threads
may have requests in flight on one connection at once (``optimize(n_jobs=…)``, the lease
heartbeat thread): the optimizer then handles them in one turn and commits them together.
"""
from __future__ import annotations

import json
import os
import sys
from concurrent.futures import Future, TimeoutError as FutureTimeout
import struct
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import zmq

CLIENT = b"HLC1"
HELLO, HEARTBEAT, REQUEST, REPLY = b"\x21", b"\x02", b"\x25", b"\x28"
WELCOME, ERROR, DISCONNECT = 0x11, 0x1F, 0x0F
DEFAULT_BROKER = "tcp://127.0.0.1:5555"
OPTIMIZER = b"optimizer"


class HyperloomError(Exception):
    """The optimizer or the broker refused a request; the message says why, and ``details``
    holds the other keys of the optimizer's error answer (e.g. ``retry_after``, ``exhausted``)."""

    def __init__(self, message: str, details: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.details: Dict[str, Any] = details or {}


class Unreachable(HyperloomError):
    """No broker or no optimizer answered in time."""


def broker_endpoint(broker: Optional[str]) -> str:
    """``broker``, else ``$HYPERLOOM_BROKER``, else ``tcp://127.0.0.1:5555`` (as the CLI)."""
    return broker or os.environ.get("HYPERLOOM_BROKER") or DEFAULT_BROKER


def _read_key(path: str, what: str) -> bytes:
    """The one key line of a key file (``#`` lines and blank lines skipped), or the key itself
    when ``path`` is already 40 Z85 characters."""
    if len(path) == 40 and not os.path.exists(path):
        return path.encode()
    try:
        lines = [l.strip() for l in Path(path).read_text().splitlines()]
    except OSError as error:
        raise HyperloomError(f"cannot read the {what} {path}: {error.strerror}") from None
    keys = [l for l in lines if l and not l.startswith("#")]
    if len(keys) != 1 or len(keys[0]) != 40:
        raise HyperloomError(f"{path}: expected one line of 40 Z85 characters (the {what}, from hyperloom keygen)")
    return keys[0].encode()


def apply_curve(socket: zmq.Socket, key: Optional[str], broker_key: Optional[str]) -> None:
    """Makes ``socket`` a CURVE client when keys are given (or set in ``$HYPERLOOM_KEY`` and
    ``$HYPERLOOM_BROKER_KEY``): ``key`` is the secret key file, ``broker_key`` the broker's
    public key file."""
    key = key or os.environ.get("HYPERLOOM_KEY") or None
    broker_key = broker_key or os.environ.get("HYPERLOOM_BROKER_KEY") or None
    if key is None and broker_key is None:
        return
    if key is None or broker_key is None:
        raise HyperloomError("CURVE needs both key (your secret key file) and broker_key (the broker's public key file)")
    secret = _read_key(key, "secret key")
    socket.curve_secretkey = secret
    socket.curve_publickey = zmq.curve_public(secret)
    socket.curve_serverkey = _read_key(broker_key, "broker's public key")


class Connection:
    """A registered client connection to the broker, for REQUESTs to the optimizer."""

    def __init__(self, broker: Optional[str] = None, *, key: Optional[str] = None, broker_key: Optional[str] = None,
                 name: str = "hyperloom-python", timeout: float = 10.0, context: Optional[zmq.Context] = None) -> None:
        self.endpoint = broker_endpoint(broker)
        self.timeout = timeout
        self.client_id = "py-" + uuid.uuid4().hex[:12]
        self.name = name
        self._context = context or zmq.Context.instance()
        self._lock = threading.Lock()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.linger = 0
        apply_curve(self._socket, key, broker_key)
        self._socket.connect(self.endpoint)
        self._next_request = 1
        self._heartbeat = 1.0
        self._last_sent = 0.0
        self._closed = False
        self._awaiting_welcome = False
        #: Requests sent and not answered: id → (their frames, the future their answer goes to).
        self._pending: Dict[int, Tuple[List[bytes], "Future[Dict[str, Any]]"]] = {}
        self._outbox: List[List[bytes]] = []
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        #: The broker's WELCOME (``broker``, ``heartbeat_ms``, …; ``feed`` and ``replay`` when announced).
        self.welcome: Dict[str, Any] = {}
        self._register()
        self._thread = threading.Thread(target=self._run, name=f"hyperloom-io-{self.client_id}", daemon=True)
        self._thread.start()

    def _send(self, frames: List[bytes]) -> None:
        self._socket.send_multipart(frames)
        self._last_sent = time.monotonic()

    def _hello(self) -> None:
        body = json.dumps({"client": self.client_id, "name": self.name}).encode()
        self._send([CLIENT, HELLO, body])
        self._awaiting_welcome = True

    def _register(self) -> None:
        """HELLO, then wait for WELCOME (before the I/O thread starts: the socket is still ours)."""
        self._hello()
        deadline = time.monotonic() + self.timeout
        while self._awaiting_welcome:
            left = deadline - time.monotonic()
            if left <= 0 or not self._socket.poll(int(left * 1000)):
                self._socket.close(0)
                os.close(self._wake_read)
                os.close(self._wake_write)
                self._closed = True
                raise Unreachable(f"no broker answered at {self.endpoint} within {self.timeout:g} s "
                                  "(is `hyperloom broker` running there? with keys, pass key= and broker_key=)")
            self._handle(self._socket.recv_multipart())

    def _handle(self, frames: List[bytes]) -> None:
        """One message from the broker: a REPLY completes its request; WELCOME ends a
        registration (requests the broker dropped meanwhile are sent again); DISCONNECT
        ``reregister`` is answered with one HELLO (the broker sends one per message it did not
        expect: answering each would start a registration storm); heartbeats need nothing (the
        I/O thread sends its own); an ERROR is noted on stderr."""
        if len(frames) < 2 or frames[0] != CLIENT or not frames[1]:
            return
        command = frames[1][0]
        if frames[1] == REPLY and len(frames) >= 4:
            with self._lock:
                entry = self._pending.pop(struct.unpack(">Q", frames[2])[0], None)
            if entry is not None:  # else: the answer to a request given up on
                try:
                    answer = json.loads(frames[3])
                except ValueError:
                    answer = {"error": "the optimizer's answer is not JSON"}
                entry[1].set_result(answer if isinstance(answer, dict) else {"value": answer})
        elif command == WELCOME and len(frames) >= 3:
            self.welcome = json.loads(frames[2])
            self._heartbeat = self.welcome.get("heartbeat_ms", 1000) / 1000
            if self._awaiting_welcome:
                self._awaiting_welcome = False
                with self._lock:
                    unanswered = [entry[0] for entry in self._pending.values()]
                for request in unanswered:  # dropped with the DISCONNECTs: the broker never saw them
                    self._send(request)
        elif command == DISCONNECT:
            reason = frames[2].decode(errors="replace") if len(frames) > 2 else ""
            if reason == "revoked":
                self._fail_all(HyperloomError("the broker revoked this client's key"))
            elif not self._awaiting_welcome:
                self._hello()
        elif command == ERROR:
            print("hyperloom: broker error: " + (frames[2].decode(errors="replace") if len(frames) > 2 else ""), file=sys.stderr)

    def _fail_all(self, error: BaseException) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for _, future in pending.values():
            if not future.done():
                future.set_exception(error)

    def _run(self) -> None:
        """The I/O thread: sends what is queued, receives and dispatches, heartbeats."""
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._wake_read, zmq.POLLIN)
        try:
            while True:
                wait = max(0.0, self._last_sent + self._heartbeat - time.monotonic())
                ready = dict(poller.poll(int(wait * 1000) + 1))
                if self._wake_read in ready:
                    try:
                        os.read(self._wake_read, 65536)
                    except BlockingIOError:
                        pass
                with self._lock:
                    outbox, self._outbox = self._outbox, []
                    closed = self._closed
                if closed:
                    break
                for frames in outbox:
                    if not self._awaiting_welcome:  # else sent again on the WELCOME
                        self._send(frames)
                while self._socket.poll(0):
                    self._handle(self._socket.recv_multipart())
                if time.monotonic() - self._last_sent >= self._heartbeat:
                    self._send([CLIENT, HEARTBEAT])
        except zmq.ZMQError as error:
            self._fail_all(Unreachable(f"the connection to {self.endpoint} failed: {error}"))
        finally:
            try:
                self._socket.send_multipart([CLIENT, bytes([DISCONNECT])], zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
            self._socket.close(0)
            os.close(self._wake_read)
            self._fail_all(HyperloomError("the connection is closed"))

    def keep_alive(self) -> None:
        """Nothing to do: the I/O thread heartbeats (kept for callers of earlier versions)."""

    def request_async(self, body: Dict[str, Any]) -> "Future[Dict[str, Any]]":
        """Sends ``body`` to the optimizer without waiting: the future gets the answer as it came
        (``{"error": …}`` included; :meth:`request` interprets it), or :class:`HyperloomError`
        when the connection closes first. Requests leave in the order they were made.
        Thread-safe."""
        payload = json.dumps(body, allow_nan=False).encode()
        future: "Future[Dict[str, Any]]" = Future()
        with self._lock:
            if self._closed:
                raise HyperloomError("the connection is closed")
            request = self._next_request
            self._next_request += 1
            frames = [CLIENT, REQUEST, struct.pack(">Q", request), OPTIMIZER, payload]
            self._pending[request] = (frames, future)
            wake = not self._outbox  # else the I/O thread is already woken for the outbox
            self._outbox.append(frames)
        if wake:
            os.write(self._wake_write, b"!")
        future.request_id = request  # type: ignore[attr-defined]
        return future

    def forget(self, future: "Future[Dict[str, Any]]") -> None:
        """Stops waiting for the answer of ``future``'s request (given up on)."""
        with self._lock:
            self._pending.pop(getattr(future, "request_id", -1), None)

    def request(self, body: Dict[str, Any], timeout: Optional[float] = None) -> Dict[str, Any]:
        """Sends ``body`` to the optimizer and returns its answer; raises :class:`HyperloomError`
        with the optimizer's message when it answers ``{"error": …}``, :class:`Unreachable` when
        no optimizer answers within ``timeout`` (it is asked again every 200 ms while the broker
        says none is connected). Thread-safe; requests of several threads travel together."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            future = self.request_async(body)
            try:
                answer = future.result(max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                self.forget(future)
                raise Unreachable(f"no answer from the optimizer to {body.get('op')!r} within {timeout:g} s "
                                  f"(broker {self.endpoint})") from None
            if answer.get("unavailable") and time.monotonic() + 0.2 < deadline:
                time.sleep(0.2)
                continue
            return self.interpret(answer)

    def interpret(self, answer: Dict[str, Any]) -> Dict[str, Any]:
        """``answer``, or the :class:`HyperloomError` (:class:`Unreachable` when no optimizer is
        connected) it says."""
        if "error" in answer:
            if answer.get("unavailable"):
                raise Unreachable(f"{answer['error']} ({self.endpoint}); start `hyperloom optimizer`")
            raise HyperloomError(str(answer["error"]), {k: v for k, v in answer.items() if k != "error"})
        return answer

    def close(self) -> None:
        """Says DISCONNECT and closes the socket (in the I/O thread)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            os.write(self._wake_write, b"!")
        except OSError:
            pass
        if threading.current_thread() is not self._thread:
            self._thread.join(5)
        os.close(self._wake_write)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
