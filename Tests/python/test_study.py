"""Studies from Python against a real broker + optimizer: ask/tell, ask-only studies, leases,
optimize across processes, should_prune under ASHA."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import hyperloom
from conftest import Fabric, python_env


def ask_only(name: str, trials: int, **extra) -> dict:
    spec = {"name": name, "metric": "loss", "mode": "min",
            "space": {"x": {"uniform": [0.0, 1.0]}, "y": {"choice": [1, 2, 3]}},
            "searcher": {"type": "random", "seed": 5}, "budget": {"max_trials": trials}}
    spec.update(extra)
    return spec


def test_ask_tell_on_an_ask_only_study_completes_it_with_the_best_trial(fabric: Fabric) -> None:
    study = hyperloom.create_study(ask_only("asked", 4), broker=fabric.broker_endpoint)
    try:
        assert study.id == "asked-1" and study.direction == "minimize" and study.metric == "loss"
        assert study.trials == [], "an ask-only study creates no trial of its own"
        values = {}
        for _ in range(3):
            trial = study.ask()
            values[trial.number] = (trial.params["x"] - 0.3) ** 2
            frozen = study.tell(trial, values[trial.number])
            assert frozen.state == "complete" and frozen.value == values[trial.number]
        last = study.ask()
        study.tell(last, state="failed")
        assert study.wait(timeout=10) == "complete"
        best = min(values, key=values.get)
        assert study.best_trial.number == best and study.best_value == values[best]
        assert study.best_params == study.best_trial.params and set(study.best_params) == {"x", "y"}
        assert [t.state for t in study.trials] == ["complete"] * 3 + ["failed"]
        with pytest.raises(hyperloom.StudyDone, match="complete"):
            study.ask()
        rows = study.trials_rows()
        assert list(rows[0])[:6] == ["study", "trial", "state", "value", "param_x", "param_y"]
        assert rows[0]["value"] == values[1], "full precision"
        try:
            import pandas  # noqa: F401
        except ImportError:
            with pytest.raises(ImportError, match="needs pandas"):
                study.trials_dataframe()
        else:
            frame = study.trials_dataframe()
            assert len(frame) == 4 and list(frame.columns)[:4] == ["study", "trial", "state", "value"]
    finally:
        study.close()


def test_a_non_finite_value_is_told_as_a_failed_trial_and_a_bad_state_is_refused(fabric: Fabric) -> None:
    with hyperloom.create_study(ask_only("nan", 2), broker=fabric.broker_endpoint) as study:
        trial = study.ask()
        assert study.tell(trial, float("nan")).state == "failed"
        with pytest.raises(ValueError, match="complete, failed or pruned"):
            study.tell(study.ask(), 1.0, state="done")


def test_a_spec_error_names_the_field(fabric: Fabric) -> None:
    with pytest.raises(hyperloom.HyperloomError, match="metric"):
        hyperloom.create_study({"name": "bad", "mode": "min", "space": {"x": 1}}, broker=fabric.broker_endpoint)


OPTIMIZER_SCRIPT = textwrap.dedent("""
    import os, sys, time, hyperloom
    study = hyperloom.load_study(sys.argv[1], broker=sys.argv[2], lease=float(sys.argv[4]))
    log = open(sys.argv[3], "a")
    def objective(trial):
        log.write(f"{trial.number} {trial.attempt} {os.getpid()}\\n"); log.flush()
        if os.environ.get("HANG_ON_FIRST") and trial.attempt == 1:
            time.sleep(3600)
        time.sleep(0.05)  # slower than an ask under load: prefetching stays shallow, the processes share
        return (trial.params["x"] - 0.5) ** 2
    study.optimize(objective, timeout=90)
    study.close()
""")


def run_optimizers(fabric: Fabric, study: str, count: int, lease: float = 30, env: dict = {}) -> list:
    script = fabric.directory / "optimize.py"
    script.write_text(OPTIMIZER_SCRIPT)
    return [subprocess.Popen([sys.executable, str(script), study, fabric.broker_endpoint, str(fabric.directory / f"evaluated-{i}.txt"),
                              str(lease)], env={**python_env(), **env}, stderr=subprocess.PIPE)
            for i in range(count)]


def evaluated(fabric: Fabric) -> list:
    lines = []
    for path in fabric.directory.glob("evaluated-*.txt"):
        lines += [tuple(int(w) for w in line.split()) for line in path.read_text().splitlines()]
    return lines


def test_optimize_in_three_processes_evaluates_every_trial_exactly_once(fabric: Fabric) -> None:
    with hyperloom.create_study(ask_only("shared", 60), broker=fabric.broker_endpoint) as study:
        processes = run_optimizers(fabric, study.id, 3)
        for p in processes:
            _, err = p.communicate(timeout=100)
            assert p.returncode == 0, err.decode()
        numbers = sorted(n for n, _, _ in evaluated(fabric))
        assert numbers == list(range(1, 61)), "each of the 60 trials evaluated once, none twice"
        assert len({pid for _, _, pid in evaluated(fabric)}) == 3, "the three processes shared the study"
        assert study.wait(timeout=10) == "complete"
        assert [t.state for t in study.trials] == ["complete"] * 60


def test_a_trial_whose_process_is_killed_is_retried_after_its_lease_expires(fabric: Fabric) -> None:
    spec = ask_only("leased", 1, trial={"max_retries": 1})
    with hyperloom.create_study(spec, broker=fabric.broker_endpoint) as study:
        [victim] = run_optimizers(fabric, study.id, 1, lease=2, env={"HANG_ON_FIRST": "1"})
        deadline = time.monotonic() + 30
        while not evaluated(fabric) and time.monotonic() < deadline:
            time.sleep(0.05)
        [(number, attempt, pid)] = evaluated(fabric)
        assert (number, attempt, pid) == (1, 1, victim.pid)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        killed_at = time.monotonic()
        trial = study.ask(wait=20)  # the study's one trial is held: ask waits for its lease to expire
        assert (trial.number, trial.attempt) == (1, 2), "the same trial, its next attempt"
        assert time.monotonic() - killed_at >= 1.0, "not before the lease (2 s) expired"
        assert trial.params == study.trials[0].params
        study.tell(trial, 0.25)
        assert study.wait(timeout=10) == "complete"
        [first] = study.trials
        assert first.state == "complete" and first.attempts == 2


def test_a_held_trial_keeps_its_lease_while_its_process_lives(fabric: Fabric) -> None:
    with hyperloom.create_study(ask_only("held", 1), broker=fabric.broker_endpoint, lease=1) as study:
        trial = study.ask()
        time.sleep(3)  # three leases long: the background heartbeat renews it
        with hyperloom.load_study(study.id, broker=fabric.broker_endpoint) as other:
            with pytest.raises(hyperloom.StudyDone, match="held by other clients"):
                other.ask(wait=0)
        assert study.tell(trial, 0.1).state == "complete"


def test_should_prune_is_answered_by_the_studys_asha_scheduler(fabric: Fabric) -> None:
    spec = ask_only("pruned", 12, scheduler={"type": "asha", "resource": "epoch", "max_t": 9, "grace_period": 1,
                                             "reduction_factor": 3})
    pruned_at = {}
    with hyperloom.create_study(spec, broker=fabric.broker_endpoint) as study:
        def objective(trial: hyperloom.Trial) -> float:
            loss = 1.0
            for epoch in range(1, 10):
                loss = trial.params["x"] + 1.0 / epoch
                trial.report(loss, step=epoch)
                if trial.should_prune():
                    pruned_at[trial.number] = (epoch, trial.prune_reason)
                    raise hyperloom.TrialPruned()
            return loss
        study.optimize(objective)
        assert study.wait(timeout=10) == "complete"
        states = {t.number: t.state for t in study.trials}
        assert pruned_at and all(states[n] == "pruned" for n in pruned_at)
        assert all("rung" in reason for _, reason in pruned_at.values())
        assert any(s == "complete" for s in states.values())
        some = next(t for t in study.trials if t.number in pruned_at)
        epochs = [m["epoch"] for m in study.trials_rows()[some.number - 1]["reports"]]
        assert epochs == list(range(1, pruned_at[some.number][0] + 1)), "the reports are stored"


def test_several_objectives_with_a_constraint_give_the_pareto_front_as_best_trials(fabric: Fabric) -> None:
    spec = {"name": "mo", "metrics": [{"name": "accuracy", "mode": "max"}, {"name": "latency_ms", "mode": "min"}],
            "constraints": ["latency_ms <= 30"], "space": {"x": {"uniform": [0.0, 1.0]}},
            "searcher": {"type": "nsga2", "seed": 2, "population_size": 4}, "budget": {"max_trials": 12}}
    study = hyperloom.create_study(spec, broker=fabric.broker_endpoint)
    try:
        assert study.directions == ["maximize", "minimize"]
        assert study.metric_names == ["accuracy", "latency_ms"]
        first = study.ask()
        with pytest.raises(ValueError, match="2 objective"):
            study.tell(first, [0.5])
        study.tell(first, (first.params["x"], 40 * first.params["x"] * first.params["x"]))

        def objective(trial: hyperloom.Trial) -> tuple:
            x = trial.params["x"]
            return x, 40 * x * x  # better accuracy costs latency; x > 0.866 breaks the constraint

        study.optimize(objective)
        trials = [t for t in study.trials if t.state == "complete"]
        assert len(trials) == 12
        front = study.best_trials
        assert front and all(t.front == 0 and t.feasible for t in front)
        feasible = [t for t in trials if t.feasible]
        # On this problem every feasible trial is on the front (accuracy rises with latency).
        assert sorted(t.number for t in front) == sorted(t.number for t in feasible)
        assert all(t.values == [t.params["x"], 40 * t.params["x"] * t.params["x"]] for t in trials)
        rows = study.trials_rows()
        assert {"objective_accuracy", "objective_latency_ms", "feasible", "front"} <= set(rows[0])
    finally:
        study.close()
