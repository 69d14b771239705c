#!/usr/bin/env python3
"""Example Hyperloom trial: logistic regression trained by mini-batch SGD, standard library only.

Trial protocol (Docs/trial-protocol.md), as this script follows it:

* Configuration: a JSON object in the environment variable ``HYPERLOOM_CONFIG`` with the keys
  ``lr`` (learning rate, > 0), ``l2`` (L2 penalty, >= 0), ``epochs`` (>= 1), ``batch_size``
  (>= 1, default 32), ``seed`` (initial weights and shuffling), ``data_seed`` (the dataset) and
  ``epoch_seconds`` (default 0: a minimum wall time per epoch, slept out, to stand in for a
  heavier model in demonstrations and tests that stop a trial midway).
  Every key has a default, so ``python3 train.py`` runs alone. The same keys are accepted as
  options (``--lr 0.1 --epochs 5``) for runs by hand; an option given on the command line wins
  over the same key in ``HYPERLOOM_CONFIG``. Unknown keys are ignored with a note on stderr.
* Metrics: after every epoch one line on stdout, flushed at once::

      @hyperloom {"epoch": 3, "loss": 0.412, "accuracy": 0.87, "train_loss": 0.43, "checkpoint": true}

  ``loss`` is the validation log-loss and ``accuracy`` the validation accuracy; ``checkpoint``
  is present (and true) when the epoch's checkpoint has been written before the line.
* Checkpoints: when ``HYPERLOOM_CHECKPOINT_DIR`` is set, the weights, the epoch and the state
  of the random generator are written after every epoch to ``state.json`` in that directory,
  atomically (temporary file, fsync, ``os.replace``), so being killed at any moment leaves
  either the previous checkpoint or the new one. On start an existing checkpoint is resumed
  (a note goes to stderr), so a retried attempt continues where the last one stopped; a larger
  ``epochs`` continues training a finished trial. A checkpoint written with other
  hyperparameters, or one that cannot be read, is ignored with a note and training restarts.
* Exit status: 0 when training finished; 2 for an invalid configuration, with the reason on
  stderr; 130 on SIGINT. SIGTERM keeps Python's default (exit at once): the checkpoint is always
  consistent, so there is nothing to clean up.

The dataset is synthetic and deterministic in ``data_seed``: 2,000 points with 16 features of
unequal scales and correlated through a shared factor, 10 informative and 6 pure noise, labels
drawn from a logistic model (so some overlap is irreducible), split 1,600 / 400 into training
and validation. Good settings reach a validation accuracy of about 0.9. Informative features sit
on small scales and noise features on large ones, so a learning rate far too small stays near
0.7, and a large learning rate with a strong penalty oscillates: the search has something to find.
"""

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time

POINTS = 2000
VALIDATION = 400
FEATURES = 16
INFORMATIVE = 10
CHECKPOINT_FILE = "state.json"
CHECKPOINT_VERSION = 1
TEMPORARY_PREFIX = ".state-"

DEFAULTS = {"lr": 0.1, "l2": 1e-4, "epochs": 10, "batch_size": 32, "seed": 0, "data_seed": 2024,
            "epoch_seconds": 0.0}
# Keys that must match for a checkpoint to be resumed: `epochs` is the budget, not the model.
MODEL_KEYS = ("lr", "l2", "batch_size", "seed", "data_seed")


class ConfigError(Exception):
    """An invalid configuration: reported on stderr, exit status 2."""


def note(message):
    print("train.py: " + message, file=sys.stderr, flush=True)


def parse_options(argv):
    parser = argparse.ArgumentParser(
        description="Example Hyperloom trial: logistic regression by SGD. "
        "Reads HYPERLOOM_CONFIG; these options override its keys.")
    parser.add_argument("--lr", type=float, help="learning rate (> 0, default %g)" % DEFAULTS["lr"])
    parser.add_argument("--l2", type=float, help="L2 penalty (>= 0, default %g)" % DEFAULTS["l2"])
    parser.add_argument("--epochs", type=int, help="epochs (>= 1, default %d)" % DEFAULTS["epochs"])
    parser.add_argument("--batch-size", dest="batch_size", type=int,
                        help="mini-batch size (>= 1, default %d)" % DEFAULTS["batch_size"])
    parser.add_argument("--seed", type=int, help="seed of the initial weights and the shuffling")
    parser.add_argument("--data-seed", dest="data_seed", type=int, help="seed of the synthetic dataset")
    parser.add_argument("--epoch-seconds", dest="epoch_seconds", type=float,
                        help="minimum wall time of an epoch in seconds (default 0)")
    return {key: value for key, value in vars(parser.parse_args(argv)).items() if value is not None}


def load_config(environ, argv):
    """Defaults, then HYPERLOOM_CONFIG, then command-line options; validated."""
    config = dict(DEFAULTS)
    text = environ.get("HYPERLOOM_CONFIG")
    if text:
        try:
            given = json.loads(text)
        except ValueError as error:
            raise ConfigError("HYPERLOOM_CONFIG is not valid JSON: %s" % error)
        if not isinstance(given, dict):
            raise ConfigError("HYPERLOOM_CONFIG must be a JSON object, got %s" % type(given).__name__)
        for key in sorted(set(given) - set(DEFAULTS)):
            note("ignoring unknown configuration key %r" % key)
        config.update({key: value for key, value in given.items() if key in DEFAULTS})
    config.update(parse_options(argv))
    return validate(config)


def number(config, key):
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError("%s: expected a finite number, got %r" % (key, value))
    return float(value)


def integer(config, key):
    value = number(config, key)
    if value != int(value):
        raise ConfigError("%s: expected an integer, got %r" % (key, config[key]))
    return int(value)


def validate(config):
    checked = {
        "lr": number(config, "lr"),
        "l2": number(config, "l2"),
        "epochs": integer(config, "epochs"),
        "batch_size": integer(config, "batch_size"),
        "seed": integer(config, "seed"),
        "data_seed": integer(config, "data_seed"),
        "epoch_seconds": number(config, "epoch_seconds"),
    }
    if checked["lr"] <= 0:
        raise ConfigError("lr: must be positive, got %r" % config["lr"])
    if checked["l2"] < 0:
        raise ConfigError("l2: must not be negative, got %r" % config["l2"])
    if checked["epochs"] < 1:
        raise ConfigError("epochs: must be at least 1, got %r" % config["epochs"])
    if checked["batch_size"] < 1:
        raise ConfigError("batch_size: must be at least 1, got %r" % config["batch_size"])
    if checked["epoch_seconds"] < 0:
        raise ConfigError("epoch_seconds: must not be negative, got %r" % config["epoch_seconds"])
    return checked


def make_dataset(data_seed):
    """(train, validation): lists of (features, label), deterministic in `data_seed`."""
    rng = random.Random(data_seed)
    # Informative features on small scales (slow to learn with a small learning rate), noise
    # features on large ones (their gradients make a large learning rate oscillate).
    scales = [math.exp(rng.uniform(math.log(0.2), math.log(1.5))) for _ in range(INFORMATIVE)]
    scales += [rng.uniform(2.0, 6.0) for _ in range(FEATURES - INFORMATIVE)]
    truth = [rng.gauss(0.0, 1.0) for _ in range(INFORMATIVE)] + [0.0] * (FEATURES - INFORMATIVE)
    norm = math.sqrt(sum(w * w for w in truth))
    # Labels drawn from this logistic model: a Bayes accuracy of 0.91-0.95 (0.92 for the default).
    truth = [8.0 * w / norm for w in truth]
    bias = 0.5
    points = []
    for _ in range(POINTS):
        shared = rng.gauss(0.0, 1.0)
        latent = [0.8 * rng.gauss(0.0, 1.0) + 0.6 * shared for _ in range(FEATURES)]
        margin = bias + sum(w * z for w, z in zip(truth, latent))
        label = 1 if rng.random() < sigmoid(margin) else 0
        points.append(([s * z for s, z in zip(scales, latent)], label))
    return points[VALIDATION:], points[:VALIDATION]


def sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def log_loss_term(z, y):
    """-log p(y | z) for a logit z, without overflow."""
    return max(z, 0.0) - y * z + math.log1p(math.exp(-abs(z)))


def evaluate(weights, bias, points):
    """(mean log-loss, accuracy) of the model on `points`."""
    loss = 0.0
    correct = 0
    for x, y in points:
        z = bias + sum(w * v for w, v in zip(weights, x))
        loss += log_loss_term(z, y)
        correct += (z >= 0) == (y == 1)
    return loss / len(points), correct / len(points)


def train_epoch(weights, bias, train, config, rng):
    """One pass of mini-batch SGD over a fresh shuffle; returns the new bias (weights in place)."""
    lr, l2, batch_size = config["lr"], config["l2"], config["batch_size"]
    order = list(range(len(train)))
    rng.shuffle(order)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        grad = [0.0] * len(weights)
        grad_bias = 0.0
        for i in batch:
            x, y = train[i]
            error = sigmoid(bias + sum(w * v for w, v in zip(weights, x))) - y
            grad_bias += error
            for j, v in enumerate(x):
                grad[j] += error * v
        step = lr / len(batch)
        decay = 1.0 - lr * l2
        for j in range(len(weights)):
            weights[j] = decay * weights[j] - step * grad[j]
        bias -= step * grad_bias
    return bias


def rng_state_to_json(state):
    version, internal, gauss_next = state
    return [version, list(internal), gauss_next]


def rng_state_from_json(saved):
    version, internal, gauss_next = saved
    return (version, tuple(internal), gauss_next)


def save_checkpoint(directory, config, epoch, weights, bias, rng, metrics):
    """Writes state.json atomically: a reader sees the old file or the new one, never a mix."""
    os.makedirs(directory, exist_ok=True)
    state = {
        "version": CHECKPOINT_VERSION,
        "config": {key: config[key] for key in MODEL_KEYS},
        "epoch": epoch,
        "weights": weights,
        "bias": bias,
        "rng_state": rng_state_to_json(rng.getstate()),
        "metrics": metrics,
    }
    fd, temporary = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, os.path.join(directory, CHECKPOINT_FILE))
        sync_directory(directory)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def sync_directory(directory):
    """Makes the rename durable where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(directory):
    """Temporary files left by an attempt killed while writing its checkpoint."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name.startswith(TEMPORARY_PREFIX) and name.endswith(".tmp"):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass


def load_checkpoint(directory, config):
    """The saved state when it can be resumed with `config`, else None (with a note why)."""
    path = os.path.join(directory, CHECKPOINT_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as handle:
            state = json.load(handle)
        if state.get("version") != CHECKPOINT_VERSION:
            raise ValueError("version %r, expected %d" % (state.get("version"), CHECKPOINT_VERSION))
        saved = state["config"]
        if any(saved.get(key) != config[key] for key in MODEL_KEYS):
            note("ignoring checkpoint %s: written with other hyperparameters %s" % (path, json.dumps(saved)))
            return None
        if len(state["weights"]) != FEATURES or int(state["epoch"]) < 1:
            raise ValueError("unexpected shape")
        rng = random.Random()
        rng.setstate(rng_state_from_json(state["rng_state"]))
        state["rng"] = rng
        return state
    except (OSError, ValueError, KeyError, TypeError) as error:
        note("ignoring unreadable checkpoint %s (%s); starting over" % (path, error))
        return None


def report(metrics, checkpoint):
    line = dict(metrics)
    if checkpoint:
        line["checkpoint"] = True
    sys.stdout.write("@hyperloom " + json.dumps(line) + "\n")
    sys.stdout.flush()


def main(argv=None):
    try:
        config = load_config(os.environ, sys.argv[1:] if argv is None else argv)
    except ConfigError as error:
        note("invalid configuration: %s" % error)
        return 2

    train, validation = make_dataset(config["data_seed"])
    checkpoint_dir = os.environ.get("HYPERLOOM_CHECKPOINT_DIR") or None

    state = None
    if checkpoint_dir:
        remove_stale_temporaries(checkpoint_dir)
        state = load_checkpoint(checkpoint_dir, config)
    if state is not None:
        epoch, weights, bias, rng = int(state["epoch"]), list(state["weights"]), float(state["bias"]), state["rng"]
        note("resumed from %s at epoch %d of %d" % (os.path.join(checkpoint_dir, CHECKPOINT_FILE), epoch, config["epochs"]))
        if epoch >= config["epochs"]:
            # Nothing left to train: report the saved result so the attempt completes with it.
            report(state["metrics"], checkpoint=False)
            return 0
    else:
        rng = random.Random(config["seed"])
        epoch, weights, bias = 0, [rng.gauss(0.0, 0.01) for _ in range(FEATURES)], 0.0

    while epoch < config["epochs"]:
        started = time.monotonic()
        bias = train_epoch(weights, bias, train, config, rng)
        epoch += 1
        train_loss, _ = evaluate(weights, bias, train)
        loss, accuracy = evaluate(weights, bias, validation)
        time.sleep(max(0.0, config["epoch_seconds"] - (time.monotonic() - started)))
        metrics = {"epoch": epoch, "loss": round(loss, 6), "accuracy": round(accuracy, 4),
                   "train_loss": round(train_loss, 6)}
        if checkpoint_dir:
            save_checkpoint(checkpoint_dir, config, epoch, weights, bias, rng, metrics)
        report(metrics, checkpoint=checkpoint_dir is not None)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        note("interrupted; the last checkpoint is intact")
        sys.exit(130)
