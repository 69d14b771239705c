"""Benchmarks of the SDK (Docs/benchmarks.md, "Python SDK")::

    python -m hyperloom.bench asktell --start .build/release/hyperloom --trials 2000 --runs 3
    python -m hyperloom.bench optimize --start .build/release/hyperloom --trials 2000 --processes 4 --runs 3
    python -m hyperloom.bench optuna --trials 2000 --runs 3 --storage sqlite   # needs optuna

``asktell``: one process asks and tells ``--trials`` trials of an ask-only study (random
searcher, 3 parameters) over TCP, with the SDK's defaults (asks prefetched in batches, tells
pipelined); the clock stops once every tell is acknowledged, i.e. committed to the optimizer's
SQLite store (WAL, ``synchronous = FULL``). ``optimize``: ``--processes`` processes run ``study.optimize`` on one
study until its ``--trials`` are told (``trials_per_s`` counts from their launch,
``optimizing_trials_per_s`` from the first ``optimize`` call to the last one's return). ``optuna``: the same loop with Optuna (RandomSampler)
on its in-memory or SQLite storage. Each prints one JSON line per run and the median.
``--start BIN`` starts a broker and an optimizer (store in a temporary directory) for the
benchmark; ``--broker`` uses a running one instead.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional

SPACE = {"x": {"uniform": [-5.0, 5.0]}, "y": {"loguniform": [1e-4, 1.0]}, "k": {"choice": [1, 2, 3, 4]}}


def objective(params: Dict[str, float]) -> float:
    return (params["x"] - 1.0) ** 2 + params["y"] + params["k"] * 0.01


def spec(name: str, trials: int) -> dict:
    return {"name": name, "metric": "loss", "mode": "min", "space": SPACE, "searcher": {"type": "random", "seed": 1},
            "budget": {"max_trials": trials}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def fabric(binary: Optional[str], broker: Optional[str]) -> Iterator[str]:
    """A broker endpoint: ``broker`` as given, or a broker + optimizer started from ``binary``."""
    if binary is None:
        yield broker or os.environ.get("HYPERLOOM_BROKER", "tcp://127.0.0.1:5555")
        return
    binary = str(Path(binary).resolve())
    directory = Path(tempfile.mkdtemp(prefix="hyperloom-bench-"))
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    feed = f"tcp://127.0.0.1:{_free_port()}"
    log = open(directory / "fabric.log", "wb")
    processes = [subprocess.Popen([binary, "broker", "--endpoint", endpoint, "--feed", feed,
                                   "--feed-replay", f"tcp://127.0.0.1:{_free_port()}", "--log-level", "warning"],
                                  cwd=directory, stdout=log, stderr=subprocess.STDOUT)]
    time.sleep(0.3)
    processes.append(subprocess.Popen([binary, "optimizer", "--broker", endpoint, "--store", str(directory / "store.db"),
                                       "--log-level", "warning"], cwd=directory, stdout=log, stderr=subprocess.STDOUT))
    try:
        yield endpoint
    finally:
        for p in reversed(processes):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


def asktell(broker: str, trials: int) -> dict:
    import hyperloom
    with hyperloom.create_study(spec("bench-asktell", trials), broker=broker) as study:
        start = time.perf_counter()
        for _ in range(trials):
            trial = study.ask()
            study.tell(trial, objective(trial.params))
        study.flush()  # every tell acknowledged: durable in the optimizer's store
        elapsed = time.perf_counter() - start
        assert study.wait(timeout=30) == "complete"
    return {"bench": "asktell", "trials": trials, "seconds": round(elapsed, 3), "trials_per_s": round(trials / elapsed, 1)}


def _optimize_child(broker: str, study: str) -> None:
    """One ``optimize`` process; prints when its optimize started and when every tell of it
    was acknowledged (wall clock), so the parent can leave out the processes' start-up."""
    import hyperloom
    with hyperloom.load_study(study, broker=broker) as s:
        start = time.time()
        s.optimize(lambda trial: objective(trial.params))
        print(json.dumps({"start": start, "end": time.time()}), flush=True)


def optimize(broker: str, trials: int, processes: int) -> dict:
    import hyperloom
    with hyperloom.create_study(spec("bench-optimize", trials), broker=broker) as study:
        start = time.perf_counter()
        children = [subprocess.Popen([sys.executable, "-m", "hyperloom.bench", "_child", broker, study.id], stdout=subprocess.PIPE)
                    for _ in range(processes)]
        spans = []
        for child in children:
            out, _ = child.communicate(timeout=600)
            if child.returncode != 0:
                raise SystemExit(f"an optimize process failed (status {child.returncode})")
            spans.append(json.loads(out.decode().strip().splitlines()[-1]))
        elapsed = time.perf_counter() - start
        told = [t for t in study.trials if t.state == "complete"]
        assert len(told) == trials, f"{len(told)} of {trials} trials complete"
    # From the first process's optimize() to the last one's end: without Python's start-up.
    optimizing = max(s["end"] for s in spans) - min(s["start"] for s in spans)
    return {"bench": "optimize", "trials": trials, "processes": processes, "seconds": round(elapsed, 3),
            "trials_per_s": round(trials / elapsed, 1), "optimizing_s": round(optimizing, 3),
            "optimizing_trials_per_s": round(trials / optimizing, 1)}


def optuna_asktell(trials: int, storage: str) -> dict:
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directory = tempfile.mkdtemp(prefix="optuna-bench-")
    url = None if storage == "memory" else f"sqlite:///{directory}/optuna.db"
    study = optuna.create_study(storage=url, sampler=optuna.samplers.RandomSampler(seed=1))
    dist = {"x": optuna.distributions.FloatDistribution(-5.0, 5.0),
            "y": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
            "k": optuna.distributions.CategoricalDistribution([1, 2, 3, 4])}
    start = time.perf_counter()
    for _ in range(trials):
        trial = study.ask(dist)
        study.tell(trial, objective(trial.params))
    elapsed = time.perf_counter() - start
    return {"bench": f"optuna-{storage}", "optuna": optuna.__version__, "trials": trials, "seconds": round(elapsed, 3),
            "trials_per_s": round(trials / elapsed, 1)}


def main(argv: Optional[List[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        _optimize_child(argv[1], argv[2])
        return
    parser = argparse.ArgumentParser(prog="python -m hyperloom.bench", description=__doc__.splitlines()[0])
    parser.add_argument("bench", choices=["asktell", "optimize", "optuna"])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--storage", choices=["memory", "sqlite"], default="sqlite")
    parser.add_argument("--start", metavar="BIN", help="start a broker and an optimizer from this hyperloom binary")
    parser.add_argument("--broker", help="a running broker (default: $HYPERLOOM_BROKER or tcp://127.0.0.1:5555)")
    a = parser.parse_args(argv)
    if a.trials < 1 or a.runs < 1 or a.processes < 1:
        parser.error("--trials, --runs and --processes must be at least 1")
    rates = []
    optimizing = []
    for _ in range(a.runs):
        if a.bench == "optuna":
            result = optuna_asktell(a.trials, a.storage)
        else:
            with fabric(a.start, a.broker) as broker:
                result = asktell(broker, a.trials) if a.bench == "asktell" else optimize(broker, a.trials, a.processes)
        print(json.dumps(result), flush=True)
        rates.append(result["trials_per_s"])
        if "optimizing_trials_per_s" in result:
            optimizing.append(result["optimizing_trials_per_s"])
    summary = {"bench": a.bench, "runs": a.runs, "median_trials_per_s": statistics.median(rates)}
    if a.bench == "optimize":
        summary["median_optimizing_trials_per_s"] = statistics.median(optimizing)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
