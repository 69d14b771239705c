"""Optuna's multi-objective samplers on the problems of `hyperloom bench multiobjective`.

Prints one JSON line per (problem, sampler, trial count) with the hypervolume of every seed's
feasible trials, which `hyperloom bench multiobjective --against FILE` compares with its own
searchers cell by cell (one-sided rank-sum test). With --latency, also the median time of one
`ask` after 1,000 complete trials on ZDT1 (as `hyperloom bench multiobjective --latency`);
--latency-only skips the hypervolumes.

    pip install optuna        # the figures in Docs/benchmarks.md used Optuna 5.1.0
    python3 Docs/benchmarks/optuna_multiobjective.py --sampler nsga2 > /tmp/optuna-nsga2.jsonl
    python3 Docs/benchmarks/optuna_multiobjective.py --sampler tpe > /tmp/optuna-tpe.jsonl

Samplers: `NSGAIISampler(seed=seed)` and `TPESampler(seed=seed)`, both with Optuna's defaults;
the constrained problem reports its constraints with `trial.set_constraint`. The problems, bounds and reference points match
Sources/LoomSearch/MultiObjectiveProblems.swift; the hypervolume is Optuna's own
(`optuna._hypervolume.compute_hypervolume`), over the feasible trials, all objectives minimised.
"""

import argparse
import json
import math
import statistics
import time

import numpy as np
import optuna
from optuna._hypervolume import compute_hypervolume


def zdt(x, concave):
    g = 1 + 9 * sum(x[1:]) / (len(x) - 1)
    ratio = x[0] / g
    return [x[0], g * (1 - (ratio * ratio if concave else math.sqrt(ratio)))], []


def dtlz2(x):
    g = sum((v - 0.5) * (v - 0.5) for v in x[2:])
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    return [(1 + g) * math.cos(a) * math.cos(b), (1 + g) * math.cos(a) * math.sin(b), (1 + g) * math.sin(a)], []


def bnh(x):
    f1 = 4 * x[0] * x[0] + 4 * x[1] * x[1]
    f2 = (x[0] - 5) * (x[0] - 5) + (x[1] - 5) * (x[1] - 5)
    c1 = (x[0] - 5) * (x[0] - 5) + x[1] * x[1] - 25
    c2 = 7.7 - ((x[0] - 8) * (x[0] - 8) + (x[1] + 3) * (x[1] + 3))
    return [f1, f2], [c1, c2]


# name: (function, bounds, reference point)
PROBLEMS = {
    "zdt1": (lambda x: zdt(x, False), [(0.0, 1.0)] * 30, [1.1, 11.0]),
    "zdt2": (lambda x: zdt(x, True), [(0.0, 1.0)] * 30, [1.1, 11.0]),
    "dtlz2": (dtlz2, [(0.0, 1.0)] * 12, [3.5, 3.5, 3.5]),
    "bnh": (bnh, [(0.0, 5.0), (0.0, 3.0)], [140.0, 50.0]),
}


def make_sampler(name, seed):
    # Constraints reach both samplers through `trial.set_constraint` (Optuna 5's replacement of
    # the deprecated `constraints_func`).
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def run(problem, sampler, seed, trials):
    function, bounds, _ = PROBLEMS[problem]
    objectives = len(function([lo for lo, _ in bounds])[0])
    study = optuna.create_study(directions=["minimize"] * objectives, sampler=make_sampler(sampler, seed))

    def objective(trial):
        x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]
        values, constraints = function(x)
        trial.set_user_attr("constraints", constraints)
        for i, c in enumerate(constraints):
            trial.set_constraint(f"c{i}", c)
        return values

    study.optimize(objective, n_trials=trials)
    return study.trials


def hypervolume(trials, reference):
    feasible = [t.values for t in trials if t.values is not None and all(c <= 0 for c in t.user_attrs["constraints"])]
    inside = [v for v in feasible if all(a < r for a, r in zip(v, reference))]
    if not inside:
        return 0.0
    return float(compute_hypervolume(np.array(inside), np.array(reference)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sampler", choices=["nsga2", "tpe"], required=True)
    parser.add_argument("--problems", default="bnh,zdt1,zdt2,dtlz2")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--at", default="100,300")
    parser.add_argument("--latency", action="store_true", help="also time one ask after 1,000 trials on ZDT1")
    parser.add_argument("--latency-only", action="store_true", help="only time the ask (no hypervolumes)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    checkpoints = [int(n) for n in args.at.split(",")]
    name = f"optuna_{args.sampler}"
    print(f"# optuna {optuna.__version__}, sampler {name}, seeds {args.first_seed}..<{args.first_seed + args.seeds}", flush=True)
    for problem in [] if args.latency_only else args.problems.split(","):
        reference = PROBLEMS[problem][2]
        volumes = {at: [] for at in checkpoints}
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            trials = run(problem, args.sampler, seed, max(checkpoints))
            for at in checkpoints:
                volumes[at].append(hypervolume(trials[:at], reference))
        for at in checkpoints:
            print(json.dumps({"bench": "multiobjective", "problem": problem, "searcher": name, "trials": at, "seeds": args.seeds,
                              "first_seed": args.first_seed, "median_hypervolume": statistics.median(volumes[at]),
                              "hypervolumes": volumes[at]}), flush=True)
    if args.latency or args.latency_only:
        function, bounds, _ = PROBLEMS["zdt1"]
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=make_sampler(args.sampler, 0))

        def objective(trial):
            x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]
            values, constraints = function(x)
            trial.set_user_attr("constraints", constraints)
            return values

        study.optimize(objective, n_trials=1000)
        times, cpu = [], []
        for _ in range(21):
            start, start_cpu = time.perf_counter(), time.thread_time()
            trial = study.ask()
            for i, (lo, hi) in enumerate(bounds):
                trial.suggest_float(f"x{i}", lo, hi)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.thread_time() - start_cpu) * 1000)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        # CPU time of the thread, as the Swift bench reports it: wall time on a loaded machine
        # counts other processes' turns.
        print(json.dumps({"bench": "multiobjective_ask", "searcher": name, "history": 1000, "median_ms": statistics.median(times),
                          "median_cpu_ms": statistics.median(cpu)}), flush=True)


if __name__ == "__main__":
    main()
