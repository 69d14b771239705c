"""Real processes for the SDK's tests: a broker, an optimizer (SQLite store) and, when a test
asks, workers — the built ``.build/debug/hyperloom`` (``HYPERLOOM_BIN`` overrides it). Every
process is stopped (SIGTERM, then SIGKILL) when its test ends; every wait is bounded."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("HYPERLOOM_BIN", REPOSITORY / ".build" / "debug" / "hyperloom"))
sys.path.insert(0, str(REPOSITORY / "Sources" / "hyperloom-python"))  # the SDK of this checkout, installed or not


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A child process whose output goes to a log file."""

    def __init__(self, name: str, args: List[str], directory: Path, env: Optional[Dict[str, str]] = None) -> None:
        self.name = name
        self.log = directory / f"{name}.log"
        self._file = open(self.log, "wb")
        self.popen = subprocess.Popen(args, cwd=directory, stdout=self._file, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, start_new_session=True)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{self.name} did not print {text!r} within {timeout} s:\n{self.output}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._file.close()


class Fabric:
    """Broker + optimizer on free loopback ports, in a scratch directory."""

    def __init__(self, directory: Path) -> None:
        if not BINARY.exists():
            pytest.fail(f"{BINARY} is missing: build it first (swift build --product hyperloom)")
        self.directory = directory
        port, feed, replay = free_port(), free_port(), free_port()
        self.broker_endpoint = f"tcp://127.0.0.1:{port}"
        self.feed = f"tcp://127.0.0.1:{feed}"
        self.replay = f"tcp://127.0.0.1:{replay}"
        self.processes: List[Process] = []
        self.broker = self.spawn("broker", ["broker", "--endpoint", self.broker_endpoint, "--feed", self.feed,
                                            "--feed-replay", self.replay, "--heartbeat", "250ms"])
        self.broker.wait_for("broker listening on")
        self.optimizer = self.spawn("optimizer", ["optimizer", "--broker", self.broker_endpoint, "--store",
                                                  str(directory / "store.db"), "--feed", self.feed])
        self.optimizer.wait_for("optimizer optimizer using store")

    def spawn(self, name: str, args: List[str], env: Optional[Dict[str, str]] = None) -> Process:
        process = Process(name, [str(BINARY)] + args, self.directory, env)
        self.processes.append(process)
        return process

    def worker(self, name: str, slots: int = 2) -> Process:
        return self.spawn(f"worker-{name}", ["worker", "--broker", self.broker_endpoint, "--slots", str(slots), "--id", name,
                                             "--work-dir", str(self.directory / f"work-{name}"), "--heartbeat", "250ms"])

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([str(BINARY), *args], cwd=self.directory, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "HYPERLOOM_BROKER": self.broker_endpoint})

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.output[-3000:]}" for p in self.processes)


@pytest.fixture
def fabric(tmp_path: Path) -> Iterator[Fabric]:
    f = Fabric(tmp_path)
    try:
        yield f
    finally:
        f.stop()


def python_env() -> Dict[str, str]:
    """The environment for a Python child that imports this checkout's SDK."""
    sdk = str(REPOSITORY / "Sources" / "hyperloom-python")
    return {**os.environ, "PYTHONPATH": sdk + os.pathsep + os.environ.get("PYTHONPATH", "")}
