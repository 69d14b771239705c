"""Optuna's default TPE on the functions of `hyperloom bench efficiency`, and its ask latency.

Prints the same table as `hyperloom bench efficiency` (median simple regret over seeds at
25/50/100 sequential trials) and one JSON line per figure, then, with --latency, the median
time of one `ask` after 1,000 complete trials in 10 dimensions (as `hyperloom bench ask`).

    python3 -m venv /tmp/optuna-venv && /tmp/optuna-venv/bin/pip install optuna
    /tmp/optuna-venv/bin/python Docs/benchmarks/optuna_efficiency.py --latency   # seeds 0-29

The sampler is `TPESampler(seed=seed)`: Optuna 5.0's default, which is multivariate for a
single objective. The functions and bounds match Sources/LoomSearch/BenchmarkFunctions.swift.

With --independent-startup, the sampler's startup `RandomSampler` gets its own seed
(seed + 100003). A seeded `TPESampler` gives the same seed to its startup sampler and to its TPE
random state, so its first model candidates replay the random numbers of the first startup
trials; unseeded (the usual case) the two are independent. See Docs/benchmarks.md for what this
does to the figures.
"""

import argparse
import json
import math
import statistics
import time

import numpy as np
import optuna


def branin(x):
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s


HARTMANN_ALPHA = [1.0, 1.2, 3.0, 3.2]
HARTMANN_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
HARTMANN_P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
              [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def hartmann6(x):
    total = 0.0
    for i in range(4):
        inner = sum(HARTMANN_A[i][j] * (x[j] - HARTMANN_P[i][j]) ** 2 for j in range(6))
        total += HARTMANN_ALPHA[i] * math.exp(-inner)
    return -total


def levy(x):
    w = [1 + (v - 1) / 4 for v in x]
    first = math.sin(math.pi * w[0]) ** 2
    last = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    middle = sum((wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2) for wi in w[:-1])
    return first + middle + last


def ackley(x):
    d = len(x)
    squares = sum(v * v for v in x) / d
    cosines = sum(math.cos(2 * math.pi * v) for v in x) / d
    return -20 * math.exp(-0.2 * math.sqrt(squares)) - math.exp(cosines) + 20 + math.e


FUNCTIONS = {
    "branin": (branin, [(-5, 10), (0, 15)], 0.397887357729739),
    "hartmann6": (hartmann6, [(0, 1)] * 6, -3.322368011415515),
    "levy10": (levy, [(-10, 10)] * 10, 0.0),
    "ackley10": (ackley, [(-32.768, 32.768)] * 10, 0.0),
}


def run(function, bounds, seed, trials, independent_startup=False):
    sampler = optuna.samplers.TPESampler(seed=seed)
    if independent_startup:
        sampler._random_sampler = optuna.samplers.RandomSampler(seed=seed + 100003)
    study = optuna.create_study(sampler=sampler)

    def objective(trial):
        x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]
        return function(x)

    study.optimize(objective, n_trials=trials)
    best, trace = math.inf, []
    for t in study.trials:
        best = min(best, t.value)
        trace.append(best)
    return trace


def latency(history=1000, dims=10, repeats=21, seed=1):
    rng = np.random.default_rng(seed)
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(sampler=sampler)
    dists = {f"x{i}": optuna.distributions.FloatDistribution(-5, 5) for i in range(dims)}
    for _ in range(history):
        x = rng.uniform(-5, 5, size=dims)
        study.add_trial(optuna.trial.create_trial(params={f"x{i}": float(v) for i, v in enumerate(x)},
                                                  distributions=dists, value=float(np.sum(x * x))))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        trial = study.ask(dists)
        times.append((time.perf_counter() - start) * 1e3)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds first_seed .. first_seed + seeds - 1 (check on other seeds)")
    parser.add_argument("--at", default="25,50,100")
    parser.add_argument("--functions", default=",".join(FUNCTIONS))
    parser.add_argument("--latency", action="store_true", help="also time one ask after 1,000 trials, 10 dims")
    parser.add_argument("--independent-startup", action="store_true",
                        help="seed the startup random sampler apart from the TPE random state")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    checkpoints = [int(a) for a in args.at.split(",")]
    label = "optuna_tpe_indep" if args.independent_startup else "optuna_tpe"
    print(f"optuna {optuna.__version__}: median simple regret over seeds {args.first_seed}..<{args.first_seed + args.seeds} at "
          + "/".join(map(str, checkpoints)) + " trials")
    for name in args.functions.split(","):
        function, bounds, minimum = FUNCTIONS[name]
        regrets = [[] for _ in checkpoints]
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            trace = run(function, bounds, seed, max(checkpoints), args.independent_startup)
            for i, at in enumerate(checkpoints):
                regrets[i].append(trace[at - 1] - minimum)
        medians = [statistics.median(r) for r in regrets]
        print(f"{name:<10} {label:<17} " + " ".join(f"{m:10.4f}" for m in medians))
        for at, m, r in zip(checkpoints, medians, regrets):
            print(json.dumps({"bench": "efficiency", "function": name, "searcher": label,
                              "optuna": optuna.__version__, "trials": at, "seeds": args.seeds,
                              "first_seed": args.first_seed, "median_regret": m, "regrets": r}))
    if args.latency:
        ms = latency()
        print(f"optuna tpe ask: 1000 trials, 10 dims: median {ms:.3f} ms over 21 asks")
        print(json.dumps({"bench": "ask", "searcher": "optuna_tpe", "optuna": optuna.__version__,
                          "history": 1000, "dims": 10, "median_ms": round(ms, 3), "repeats": 21}))


if __name__ == "__main__":
    main()
