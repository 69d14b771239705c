"""The broker's event feed from Python (Docs/protocol.md, section 8): history from the journal
(the replay socket), then live events, with no gap and each event once (the Clone pattern of
section 8.5)::

    for event in hyperloom.feed(topic="job/logreg-sgd-1/", after=0):
        print(event["seq"], event["topic"], event.get("payload"))
"""
from __future__ import annotations

import json
import struct
import sys
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import zmq

from ._wire import HyperloomError, apply_curve, broker_endpoint

try:
    from typing import TypedDict
except ImportError:  # Python < 3.8
    TypedDict = dict  # type: ignore

REPLAY_PROTOCOL = b"HLF1"
REPLAY, EVENT, END = b"\x01", 0x02, 0x03
HEARTBEAT_TOPIC = b"broker/heartbeat"
#: A publisher silent this long (no event, no heartbeat) is reported (the broker beats every 1 s).
SILENT_AFTER = 3.0
#: An unanswered REPLAY is sent again after this long (the broker may have restarted).
REPLAY_RETRY = 2.0


class FeedEvent(TypedDict, total=False):
    """One event: the body's fields (``event``, ``time``, ``job``, ``attempt``, …, see the
    topic table of Docs/protocol.md §8.1), plus ``seq`` (the feed's), ``topic`` and, when the
    event has one, ``payload`` (parsed JSON; ``payload_bytes`` when it is not JSON).

    Every key appears once: an update's own number is ``update_seq``. Leases (``lease``,
    ``backup_lease``, ``winner_lease``) are decimal strings, since they exceed 2**53: use
    ``int(event["lease"])``."""

    seq: int
    topic: str
    event: str
    time: float
    job: str
    attempt: int
    lease: str
    worker: str
    update_seq: int
    payload: Any
    payload_bytes: bytes


def feed_endpoints(broker: Optional[str] = None) -> Tuple[str, str]:
    """The feed and replay endpoints of the broker at ``broker``: what the broker announces in
    its WELCOME (``feed``, ``replay``), else the broker's host with its port + 1 and + 2 (the
    defaults: 5555 → 5556, 5557)."""
    endpoint = broker_endpoint(broker)
    from ._wire import Connection
    try:
        with Connection(endpoint, timeout=5.0, name="hyperloom-python feed") as connection:
            announced = connection.welcome
    except HyperloomError:
        announced = {}
    host, _, port = endpoint.rpartition(":")
    if announced.get("feed") and announced.get("replay"):
        return _resolve(announced["feed"], host), _resolve(announced["replay"], host)
    if not port.isdigit():
        raise HyperloomError(f"cannot derive the feed from the broker endpoint {endpoint}: pass feed= and replay=")
    return f"{host}:{int(port) + 1}", f"{host}:{int(port) + 2}"


def _resolve(announced: str, broker_host: str) -> str:
    """An announced endpoint with a wildcard host (``tcp://0.0.0.0:5556``, a bind on every
    interface) made to point at the broker's host (``broker_host`` is ``tcp://gpu-1``)."""
    scheme_host, _, port = announced.rpartition(":")
    if scheme_host.split("://", 1)[-1] in ("*", "0.0.0.0", "[::]", "::"):
        return f"{broker_host}:{port}"
    return announced


def _event(frames: Sequence[bytes]) -> FeedEvent:
    topic, seq, body = frames[0].decode(), struct.unpack(">Q", frames[1])[0], frames[2]
    try:
        event: Dict[str, Any] = json.loads(body)
    except ValueError:
        event = {"body_bytes": body}
    event["seq"] = seq
    event["topic"] = topic
    if len(frames) > 3:
        try:
            event["payload"] = json.loads(frames[3])
        except ValueError:
            event["payload_bytes"] = bytes(frames[3])
    return event  # type: ignore[return-value]


def feed(broker: Optional[str] = None, *, topic: Union[str, Sequence[str]] = "", after: int = 0,
         feed: Optional[str] = None, replay: Optional[str] = None, key: Optional[str] = None,
         broker_key: Optional[str] = None, idle_timeout: Optional[float] = None,
         context: Optional[zmq.Context] = None) -> Iterator[FeedEvent]:
    """Every event whose topic starts with ``topic`` (one prefix or several; ``""``: all) and
    whose seq is above ``after``, in seq order, each once: first the history from the broker's
    journal, then live events as they come.

    The endpoints are ``feed`` and ``replay`` when given, else what the broker at ``broker``
    (default ``$HYPERLOOM_BROKER``) announces. The iterator ends when nothing matched for
    ``idle_timeout`` seconds (None: never); a silent publisher (no heartbeat for 3 s) is noted
    once on stderr. ``key``/``broker_key``: CURVE key files when the broker authenticates.
    """
    if feed is None or replay is None:
        derived = feed_endpoints(broker)
        feed, replay = feed or derived[0], replay or derived[1]
    prefixes = [topic] if isinstance(topic, str) else list(topic)
    wanted = [p.encode() for p in prefixes if p]
    ctx = context or zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    dealer = ctx.socket(zmq.DEALER)
    for s in (sub, dealer):
        s.linger = 0
        apply_curve(s, key, broker_key)
    sub.setsockopt(zmq.SUBSCRIBE, b"")  # every topic: gap detection needs every seq (§8.5, step 1)
    sub.connect(feed)
    dealer.connect(replay)
    position = after
    held: List[List[bytes]] = []
    last_heard = time.monotonic()
    last_delivered = time.monotonic()
    warned = False

    def matches(t: bytes) -> bool:
        return not wanted or any(t.startswith(p) for p in wanted)

    def do_replay() -> Iterator[FeedEvent]:
        """Steps 2–3: ask for everything after ``position`` until the answer reaches the head."""
        nonlocal position, last_heard
        while True:
            dealer.send_multipart([REPLAY_PROTOCOL, REPLAY, struct.pack(">Q", position), struct.pack(">I", 5000)] + wanted)
            sent = time.monotonic()
            while True:
                if not dealer.poll(200):
                    held.extend(drain_live())
                    if time.monotonic() - sent >= REPLAY_RETRY:
                        break  # unanswered: ask again
                    continue
                f = dealer.recv_multipart()
                if len(f) < 2 or f[0] != REPLAY_PROTOCOL:
                    continue
                if f[1][0] == EVENT and len(f) >= 5:
                    seq = struct.unpack(">Q", f[3])[0]
                    if seq > position:
                        position = seq
                        yield _event(f[2:])
                elif f[1][0] == END and len(f) >= 5:
                    through, head, journal_id = (struct.unpack(">Q", x)[0] for x in f[2:5])
                    first = struct.unpack(">Q", f[5])[0] if len(f) >= 6 else 1
                    last_heard = time.monotonic()
                    if through < first and through > position:
                        # The broker's retention dropped these events (§8.3): they never come.
                        print(f"hyperloom.feed: seqs {position + 1}…{through} were dropped by the broker's "
                              "feed retention; continuing with the oldest kept event", file=sys.stderr)
                    if position > head:
                        position = 0  # beyond the head: a new journal, whose seqs start again from 1 (§8.4)
                        break
                    position = max(position, through)
                    if through >= head:
                        return
                    break

    def drain_live() -> List[List[bytes]]:
        out = []
        while sub.poll(0):
            out.append(sub.recv_multipart())
        return out

    try:
        yield from do_replay()
        while True:
            batch, held[:] = list(held), []
            if not batch:
                if sub.poll(100):
                    batch = drain_live()
            gap = False
            for frames in batch:
                last_heard = time.monotonic()
                warned = False
                seq = struct.unpack(">Q", frames[1])[0]
                if frames[0] == HEARTBEAT_TOPIC:
                    gap = gap or seq > position
                elif seq == position + 1 and not gap:
                    position = seq
                    if matches(frames[0]):
                        last_delivered = time.monotonic()
                        yield _event(frames)
                elif seq > position:
                    gap = True  # the event itself is in the journal: the replay brings it
            if gap:
                for event in do_replay():
                    last_delivered = time.monotonic()
                    yield event
            now = time.monotonic()
            if not warned and now - last_heard > SILENT_AFTER:
                warned = True
                print(f"hyperloom.feed: nothing from the feed at {feed} for {SILENT_AFTER:g} s "
                      "(is the broker running, and is this its feed endpoint?)", file=sys.stderr)
            if idle_timeout is not None and now - last_delivered > idle_timeout:
                return
    finally:
        sub.close(0)
        dealer.close(0)
