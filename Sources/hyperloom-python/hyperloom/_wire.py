"""The client side of the Hyperloom wire protocol (Docs/protocol.md, sections 1, 4 and 5): one
DEALER connection to the broker that says HELLO, heartbeats, and carries REQUESTs to the
optimizer service and their REPLYs.

**Threading.** A ZeroMQ socket must not be used by two threads at once: every use of the socket
goes through :meth:`Connection.request` or :meth:`Connection.keep_alive`, which hold the
connection's lock, so one ``Connection`` may be shared by threads (``optimize(n_jobs=…)`` and
the lease heartbeat thread share one).
"""
from __future__ import annotations

import json
import os
import struct
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

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
        self._lock = threading.RLock()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.linger = 0
        apply_curve(self._socket, key, broker_key)
        self._socket.connect(self.endpoint)
        self._next_request = 1
        self._heartbeat = 1.0
        self._last_sent = 0.0
        self._closed = False
        self._awaiting_welcome = False
        #: The broker's WELCOME (``broker``, ``heartbeat_ms``, …; ``feed`` and ``replay`` when announced).
        self.welcome: Dict[str, Any] = {}
        self._register()

    def _send(self, frames: List[bytes]) -> None:
        self._socket.send_multipart(frames)
        self._last_sent = time.monotonic()

    def _hello(self) -> None:
        body = json.dumps({"client": self.client_id, "name": self.name}).encode()
        self._send([CLIENT, HELLO, body])
        self._awaiting_welcome = True

    def _register(self) -> None:
        with self._lock:
            self._hello()
            deadline = time.monotonic() + self.timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not self._socket.poll(int(left * 1000)):
                    self.close()
                    raise Unreachable(f"no broker answered at {self.endpoint} within {self.timeout:g} s "
                                      "(is `hyperloom broker` running there? with keys, pass key= and broker_key=)")
                frames = self._socket.recv_multipart()
                self._handle(frames)
                if not self._awaiting_welcome:
                    return

    def _handle(self, frames: List[bytes]) -> None:
        """A message that is not the awaited reply: WELCOME ends a registration, heartbeats are
        answered by the next send, DISCONNECT ``reregister`` is answered with one HELLO (the
        broker sends one per message it did not expect: answering each would start a
        registration storm), an ERROR is raised."""
        if len(frames) < 2 or frames[0] != CLIENT or not frames[1]:
            return
        command = frames[1][0]
        if command == WELCOME and len(frames) >= 3:
            self.welcome = json.loads(frames[2])
            self._heartbeat = self.welcome.get("heartbeat_ms", 1000) / 1000
            self._awaiting_welcome = False
        elif command == DISCONNECT:
            reason = frames[2].decode(errors="replace") if len(frames) > 2 else ""
            if reason == "revoked":
                raise HyperloomError("the broker revoked this client's key")
            if not self._awaiting_welcome:
                self._hello()
        elif command == ERROR:
            raise HyperloomError("broker error: " + (frames[2].decode(errors="replace") if len(frames) > 2 else ""))

    def keep_alive(self) -> None:
        """Sends HEARTBEAT when nothing was sent for one interval and drains what arrived."""
        with self._lock:
            if self._closed:
                return
            while self._socket.poll(0):
                self._handle(self._socket.recv_multipart())
            if time.monotonic() - self._last_sent >= self._heartbeat:
                self._send([CLIENT, HEARTBEAT])

    def request(self, body: Dict[str, Any], timeout: Optional[float] = None) -> Dict[str, Any]:
        """Sends ``body`` to the optimizer and returns its answer; raises :class:`HyperloomError`
        with the optimizer's message when it answers ``{"error": …}``, :class:`Unreachable` when
        no optimizer answers within ``timeout`` (it is asked again every 200 ms while the broker
        says none is connected)."""
        timeout = self.timeout if timeout is None else timeout
        payload = json.dumps(body, allow_nan=False).encode()
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._closed:
                raise HyperloomError("the connection is closed")
            while True:
                request = self._next_request
                self._next_request += 1
                frames = [CLIENT, REQUEST, struct.pack(">Q", request), OPTIMIZER, payload]
                self._send(frames)
                answer = self._await_reply(request, frames, deadline, body.get("op"))
                if answer.get("unavailable") and time.monotonic() + 0.2 < deadline:
                    time.sleep(0.2)
                    continue
                if "error" in answer:
                    if answer.get("unavailable"):
                        raise Unreachable(f"{answer['error']} ({self.endpoint}); start `hyperloom optimizer`")
                    raise HyperloomError(str(answer["error"]), {k: v for k, v in answer.items() if k != "error"})
                return answer

    def _await_reply(self, request: int, frames_sent: List[bytes], deadline: float, op: Any) -> Dict[str, Any]:
        """Waits for the REPLY to ``request``. A DISCONNECT ``reregister`` meanwhile means the
        broker dropped the request (it came from a connection it did not know): it is sent
        again once the broker welcomed this client again."""
        resend = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._socket.poll(int(max(left, 0) * 1000) + 1):
                raise Unreachable(f"no answer from the optimizer to {op!r} within the timeout (broker {self.endpoint})")
            frames = self._socket.recv_multipart()
            if len(frames) >= 4 and frames[0] == CLIENT and frames[1] == REPLY:
                if struct.unpack(">Q", frames[2])[0] == request:
                    answer = json.loads(frames[3])
                    return answer if isinstance(answer, dict) else {"value": answer}
                continue  # the answer to a request given up on
            self._handle(frames)
            if self._awaiting_welcome:
                resend = True
            elif resend:
                resend = False
                self._send(frames_sent)

    def close(self) -> None:
        """Says DISCONNECT and closes the socket."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._socket.send_multipart([CLIENT, bytes([DISCONNECT])], zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
            self._socket.close(0)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
