"""Prefetched asks and pipelined tells against a real broker + optimizer: what survives a
SIGKILL of the Python process, what ``close`` hands back, and resent tells."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from typing import List

import pytest

import hyperloom
from conftest import Fabric, python_env
from test_study import ask_only


def loss(params: dict) -> float:
    return (params["x"] - 0.5) ** 2 + params["y"]


def running(study: hyperloom.Study) -> List[int]:
    return [t.number for t in study.trials if t.state == "running"]


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def spawn(fabric: Fabric, script: str, *args: str) -> subprocess.Popen:
    path = fabric.directory / "child.py"
    path.write_text(textwrap.dedent(script))
    return subprocess.Popen([sys.executable, str(path), *args], env=python_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


PREFETCHER = """
    import sys, time, hyperloom
    study = hyperloom.load_study(sys.argv[1], broker=sys.argv[2], lease=2, prefetch=8)
    asked = [study.ask().number, study.ask().number]
    time.sleep(0.5)  # the lease thread says within ~20 ms that these two are being evaluated
    print("asked", *asked, flush=True)
    time.sleep(3600)
"""


def test_prefetched_trials_of_a_killed_process_come_back_after_their_lease_unstarted_ones_without_a_retry(fabric: Fabric) -> None:
    # max_retries 0: a trial whose one attempt died with its process fails; a prefetched trial
    # that process never started is handed out again.
    with hyperloom.create_study(ask_only("prefetched", 3), broker=fabric.broker_endpoint, prefetch=1) as study:
        child = spawn(fabric, PREFETCHER, study.id, fabric.broker_endpoint)
        try:
            assert child.stdout.readline().split() == ["asked", "1", "2"]
            # The third trial was prefetched in the background (the study's whole budget).
            assert wait_until(lambda: running(study) == [1, 2, 3], 10, "three trials held by the child")
            original = {t.number: t.params for t in study.trials}
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            killed_at = time.monotonic()
            again = study.ask(wait=20)
            assert time.monotonic() - killed_at >= 1.0, "not before the leases (2 s) expired"
            assert (again.number, again.attempt) == (3, 2) and again.params == original[3]
            study.tell(again, loss(again.params))
            study.flush()
            assert study.wait(timeout=10) == "complete", "1 and 2 were started: when their leases expire they fail"
            trials = study.trials
            assert [(t.state, t.attempts) for t in trials] == [("failed", 1), ("failed", 1), ("complete", 2)]
            assert "never started" in (trials[2].note or "")
        finally:
            child.kill()
            child.wait(10)


def test_close_hands_back_unused_prefetched_trials_at_once_without_spending_a_retry(fabric: Fabric) -> None:
    spec = ask_only("released", 6)
    with hyperloom.create_study(spec, broker=fabric.broker_endpoint, prefetch=8) as study:
        first = study.ask()
        study.ask()
        study.tell(first, loss(first.params))
        wait_until(lambda: len(study.trials) == 6, 10, "the rest of the budget prefetched")
    with hyperloom.load_study(study.id, broker=fabric.broker_endpoint, prefetch=1) as other:
        stored = {t.number: t for t in other.trials}
        assert stored[1].state == "complete" and stored[2].state == "running", "asked: still held until its lease ends"
        released = sorted(n for n, t in stored.items() if t.state == "waiting")
        assert released == [3, 4, 5, 6] and all(stored[n].attempts == 0 for n in released)
        start = time.monotonic()
        handed = [other.ask(wait=0) for _ in released]
        assert time.monotonic() - start < 5, "handed out at once, not after a lease"
        assert [(t.number, t.attempt) for t in handed] == [(n, 1) for n in released]
        assert [t.params for t in handed] == [stored[n].params for n in released]
        for trial in handed:
            other.tell(trial, loss(trial.params))


PIPELINER = """
    import sys, hyperloom
    def loss(p): return (p["x"] - 0.5) ** 2 + p["y"]
    study = hyperloom.load_study(sys.argv[1], broker=sys.argv[2], lease=2, prefetch=16)
    told = []
    while True:
        trial = study.ask()
        study.tell(trial, loss(trial.params))
        told.append(trial.number)
        if len(told) % 20 == 0:
            study.flush()  # every tell so far is acknowledged: durable
            print("durable", ",".join(map(str, told)), flush=True)
"""


def test_pipelined_tells_survive_a_sigkill_once_acknowledged_and_the_rest_are_retried_once(fabric: Fabric) -> None:
    total = 300
    with hyperloom.create_study(ask_only("pipelined", total, trial={"max_retries": 1}), broker=fabric.broker_endpoint) as study:
        child = spawn(fabric, PIPELINER, study.id, fabric.broker_endpoint)
        durable: List[int] = []
        try:
            while len(durable) < 100:
                line = child.stdout.readline()
                assert line, "the child ended: " + child.stderr.read()
                durable = [int(n) for n in line.split()[1].split(",")]
            child.send_signal(signal.SIGKILL)  # with tells in flight and trials prefetched
            child.wait(10)
        finally:
            child.kill()
            child.wait(10)
        stored = {t.number: t for t in study.trials}
        for number in durable:
            assert stored[number].state == "complete" and stored[number].attempts == 1, f"acknowledged trial {number}"
            assert stored[number].value == loss(stored[number].params)
        study.optimize(lambda trial: loss(trial.params), timeout=60)
        assert study.wait(timeout=10) == "complete"
        trials = study.trials
        assert [t.number for t in trials] == list(range(1, total + 1)), "no trial lost, none created twice"
        assert all(t.state == "complete" and t.value == loss(t.params) for t in trials)
        assert all(t.attempts == 1 for t in trials if t.number in set(durable)), "an acknowledged tell is never re-run"
        summary = study.refresh()
        assert summary["counts"]["complete"] == total and summary["trials"] == total, summary


def test_a_resent_tell_is_acknowledged_again_and_recorded_once(fabric: Fabric) -> None:
    with hyperloom.create_study(ask_only("resent", 2), broker=fabric.broker_endpoint, prefetch=1) as study:
        trial = study.ask()
        frozen = study.tell(trial, 0.25, wait=True)
        assert frozen.state == "complete" and frozen.value == 0.25
        tell = {"op": "tell", "study": study.id, "trial": trial.number, "attempt": trial.attempt, "value": 0.25}
        again = study._connection.request(tell)
        assert again["duplicate"] is True and again["trial"]["value"] == 0.25
        with pytest.raises(hyperloom.HyperloomError, match="already complete"):
            study._connection.request({**tell, "value": 0.5})
        assert [(t.number, t.state, t.value) for t in study.trials] == [(1, "complete", 0.25)]
        counts = study.refresh()["counts"]
        assert counts["complete"] == 1 and sum(counts.values()) == 1, counts
        study.tell(99, 1.0)  # pipelined: refused later, at the flush
        with pytest.raises(hyperloom.HyperloomError, match="trial 99"):
            study.flush()
