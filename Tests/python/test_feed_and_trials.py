"""The feed iterator (history, then live) and the trial helpers under a real worker."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import hyperloom
from conftest import Fabric, python_env

TRIAL_SCRIPT = textwrap.dedent("""
    import os, sys, hyperloom
    cfg = hyperloom.config()
    state = hyperloom.checkpoint_dir() / "epoch.txt"
    start = int(state.read_text()) if hyperloom.resuming() else 0
    budget = hyperloom.budget()
    for epoch in range(start + 1, int(budget if budget is not None else cfg["epochs"]) + 1):
        state.write_text(str(epoch))
        hyperloom.report(epoch=epoch, loss=cfg["x"] / epoch, resumed=int(hyperloom.resuming()), checkpoint=True)
        if cfg.get("crash_at") == epoch and hyperloom.attempt() == 1:
            sys.exit(3)
""")


def shell_spec(name: str, trials: int, command, **extra) -> dict:
    spec = {"name": name, "metric": "loss", "mode": "min", "space": {"x": {"uniform": [1.0, 2.0]}, "epochs": 3},
            "searcher": {"type": "random", "seed": 1}, "trial": {"command": command},
            "budget": {"max_trials": trials, "max_concurrent": 2}}
    spec.update(extra)
    return spec


def test_the_trial_helpers_speak_the_trial_protocol_under_a_real_worker(fabric: Fabric, tmp_path: Path) -> None:
    script = tmp_path / "trial.py"
    script.write_text(TRIAL_SCRIPT)
    worker = fabric.spawn("worker-py", ["worker", "--broker", fabric.broker_endpoint, "--slots", "2", "--id", "py",
                                        "--work-dir", str(tmp_path / "work")], env=python_env())
    spec = shell_spec("helpers", 2, [sys.executable, str(script)],
                      space={"x": {"uniform": [1.0, 2.0]}, "epochs": 3, "crash_at": 2})
    spec["trial"]["max_retries"] = 1
    with hyperloom.create_study(spec, broker=fabric.broker_endpoint) as study:
        assert study.wait(timeout=60) == "complete", fabric.logs()
        for trial in study.export():
            assert trial.state == "complete" and trial.attempts == 2, (trial, fabric.logs())
            assert trial.value == trial.params["x"] / 3 and trial.metrics["resumed"] == 1, "attempt 2 resumed at epoch 3"
            kinds = [(r["attempt"], r["kind"], r["metrics"]["epoch"]) for r in trial.reports]
            assert (1, "checkpoint", 2) in kinds and (2, "report", 3) in kinds, kinds
    worker.stop()


def test_feed_replays_the_history_then_follows_live_each_event_once(fabric: Fabric) -> None:
    fabric.worker("w1", slots=2)
    command = ["/bin/sh", "-c", "echo '@hyperloom {\"loss\": 0.5}'"]
    with hyperloom.create_study(shell_spec("fed", 3, command), broker=fabric.broker_endpoint) as first:
        assert first.wait(timeout=60) == "complete", fabric.logs()
    events = []
    done = threading.Event()

    def follow() -> None:
        for event in hyperloom.feed(broker=fabric.broker_endpoint, feed=fabric.feed, replay=fabric.replay, topic="job/fed-",
                                    after=0, idle_timeout=8):
            events.append(event)
            if sum(1 for e in events if e["event"] == "finished") == 6:
                break
        done.set()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while sum(1 for e in events if e["event"] == "finished") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(1 for e in events if e["event"] == "finished") == 3, "the late joiner got the finished study's history"
    with hyperloom.create_study(shell_spec("fed", 3, command), broker=fabric.broker_endpoint) as second:
        assert second.id == "fed-2"
        assert second.wait(timeout=60) == "complete", fabric.logs()
    assert done.wait(20), f"the live events of the second study did not arrive: {[e['topic'] for e in events]}"
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), "in seq order, each once"
    assert all(e["topic"].startswith("job/fed-") for e in events)
    finished = [e for e in events if e["event"] == "finished"]
    assert sorted(e["job"] for e in finished) == [f"fed-{s}/{n}" for s in (1, 2) for n in (1, 2, 3)]
    assert all(e["payload"]["metrics"] == {"loss": 0.5} for e in finished), "payloads are parsed"
    assert all(e["update_seq"] >= 1 and int(e["lease"]) > 0 for e in finished), "the update's number and the lease (a string)"
    queued = [e for e in events if e["event"] == "queued"]
    assert queued and queued[0]["payload"]["command"] == command


def test_the_broker_announces_its_feed_endpoints(fabric: Fabric) -> None:
    assert hyperloom.feed_endpoints(fabric.broker_endpoint) == (fabric.feed, fabric.replay)


def test_a_wildcard_feed_announcement_points_at_the_brokers_host() -> None:
    from hyperloom.feed import _resolve
    assert _resolve("tcp://0.0.0.0:5556", "tcp://gpu-1") == "tcp://gpu-1:5556"
    assert _resolve("tcp://*:5557", "tcp://10.0.0.9") == "tcp://10.0.0.9:5557"
    assert _resolve("tcp://10.0.0.2:5556", "tcp://gpu-1") == "tcp://10.0.0.2:5556"


RESUMABLE = textwrap.dedent("""
    import sys, hyperloom
    state = hyperloom.checkpoint_dir() / "epoch.txt"
    start = int(state.read_text()) if hyperloom.resuming() else 0
    for epoch in range(start + 1, 4):
        state.write_text(str(epoch))
        hyperloom.report(epoch=epoch, loss=1.0 / epoch, checkpoint=True)
    if len(sys.argv) > 1:
        raise RuntimeError("the trial failed after resuming")
""")


def test_a_resumed_attempt_with_nothing_left_prints_its_checkpoints_line_again(tmp_path: Path) -> None:
    script = tmp_path / "trial.py"
    script.write_text(RESUMABLE)
    checkpoints = tmp_path / "checkpoint"
    checkpoints.mkdir()

    def attempt(n: int, *args: str) -> subprocess.CompletedProcess:
        env = {**python_env(), "HYPERLOOM_TRIAL_ID": "s/1", "HYPERLOOM_ATTEMPT": str(n),
               "HYPERLOOM_CHECKPOINT_DIR": str(checkpoints), "HYPERLOOM_RESUME": "1" if n > 1 else "0"}
        return subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=60)

    first = attempt(1)
    assert first.returncode == 0, first.stderr
    assert [json.loads(line[len("@hyperloom "):])["epoch"] for line in first.stdout.splitlines()] == [1, 2, 3]
    # Resumed at epoch 3 of 3: nothing to run, and the checkpoint's line comes again (not as a checkpoint).
    second = attempt(2)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == ['@hyperloom {"epoch":3,"loss":0.3333333333333333}']
    # A resumed attempt that fails prints nothing it did not compute.
    third = attempt(3, "fail")
    assert third.returncode == 1 and third.stdout == "", third.stdout
