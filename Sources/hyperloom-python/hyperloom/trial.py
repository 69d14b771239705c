"""Helpers for a trial script run by a Hyperloom worker (Docs/trial-protocol.md).

The worker passes the trial its configuration and directories in ``HYPERLOOM_*`` environment
variables and reads ``@hyperloom {json}`` lines from its standard output. These functions do both
ends so a script needs no hand-written protocol::

    import hyperloom
    cfg = hyperloom.config()
    start = load(hyperloom.checkpoint_dir()) if hyperloom.resuming() else 0
    for epoch in range(start + 1, int(hyperloom.budget() or cfg["epochs"]) + 1):
        loss = train_one_epoch(cfg)
        save(hyperloom.checkpoint_dir(), epoch)
        hyperloom.report(epoch=epoch, loss=loss, checkpoint=True)

Outside a worker (a script run by hand) they still work: ``config()`` reads ``HYPERLOOM_CONFIG``
when set and is empty otherwise, ``checkpoint_dir()`` is a fresh temporary directory, and
``report()`` prints the same lines.
"""
from __future__ import annotations

import atexit
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Union

#: The prefix of a metric line (with its space).
METRIC_PREFIX = "@hyperloom "

#: Where :func:`report` keeps the line of the newest checkpoint, inside the checkpoint directory
#: (so it travels and is restored with the checkpoint it describes).
LAST_REPORT_FILE = ".hyperloom-last-report.json"

_local_checkpoint_dir: Optional[Path] = None
_reported = False
_failed = False


def in_trial() -> bool:
    """Whether this process runs as a trial attempt of a Hyperloom worker."""
    return "HYPERLOOM_TRIAL_ID" in os.environ


def config() -> Dict[str, Any]:
    """The trial's hyperparameters: ``HYPERLOOM_CONFIG`` parsed, ``{}`` when unset.

    Raises ``ValueError`` when the variable holds something other than a JSON object.
    """
    text = os.environ.get("HYPERLOOM_CONFIG")
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"HYPERLOOM_CONFIG is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"HYPERLOOM_CONFIG is not a JSON object: {text[:80]}")
    return value


def trial_id() -> Optional[str]:
    """The job id (``<study>/<trial number>``), None outside a worker."""
    return os.environ.get("HYPERLOOM_TRIAL_ID")


def attempt() -> int:
    """The attempt number (1, 2, …); 1 outside a worker."""
    return int(os.environ.get("HYPERLOOM_ATTEMPT", "1"))


def checkpoint_dir() -> Path:
    """The directory to write checkpoints to (it exists).

    Under a worker it is ``HYPERLOOM_CHECKPOINT_DIR``, kept across the trial's attempts (and
    shipped to the optimizer when the worker ships checkpoints); outside one, a temporary
    directory made once per process.
    """
    global _local_checkpoint_dir
    path = os.environ.get("HYPERLOOM_CHECKPOINT_DIR")
    if path:
        return Path(path)
    if _local_checkpoint_dir is None:
        _local_checkpoint_dir = Path(tempfile.mkdtemp(prefix="hyperloom-checkpoint-"))
    return _local_checkpoint_dir


def resuming() -> bool:
    """Whether the checkpoint directory already holds a checkpoint to resume from
    (``HYPERLOOM_RESUME=1``: a retried or promoted attempt, or a PBT restore)."""
    return os.environ.get("HYPERLOOM_RESUME") == "1"


def budget() -> Optional[Union[int, float]]:
    """The resource level (e.g. the epoch) this attempt runs to when the study's scheduler sets
    one (promotion ASHA, Hyperband): the trial should report that level and exit 0. None when the
    job has no budget."""
    text = os.environ.get("HYPERLOOM_BUDGET")
    if text is None or text == "":
        return None
    value = float(text)
    return int(value) if value.is_integer() else value


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and arrays (``.item()``, ``.tolist()``) and paths."""
    for method in ("item", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"a metric value of type {type(value).__name__} is not JSON")


def _finite(key: str, value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        print(f"hyperloom: metric {key!r} is {value}: reported as null (JSON has no NaN/inf)", file=sys.stderr)
        return None
    return value


def report(checkpoint: bool = False, **metrics: Any) -> None:
    """Reports metrics: one ``@hyperloom {…}`` line on standard output, flushed.

    ``checkpoint=True`` announces that :func:`checkpoint_dir` now holds a consistent checkpoint
    (write it first, then report): the worker records one report and one checkpoint from the line.
    Non-finite floats are reported as ``null`` (with a note on stderr): the study then sees no
    value for that key. numpy scalars are converted.
    """
    if not metrics:
        raise ValueError("report() needs at least one metric, e.g. report(loss=0.3)")
    body = {key: _finite(key, value) for key, value in metrics.items()}
    if checkpoint:
        body["checkpoint"] = True
    line = METRIC_PREFIX + json.dumps(body, default=_plain, allow_nan=False, separators=(",", ":"))
    if checkpoint:
        # Written with the checkpoint, before the line announces it: a resumed attempt that finds
        # nothing left to run prints it again (below).
        _write_atomically(checkpoint_dir() / LAST_REPORT_FILE, line[len(METRIC_PREFIX):])
    global _reported
    _reported = True
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _repeat_last_report() -> None:
    """At a normal exit of a resumed attempt that reported nothing (its checkpoint was already at
    its last step), prints the checkpoint's line again, so the attempt ends with the value of the
    state it resumed from (Docs/trial-protocol.md, "Checkpoints and resuming")."""
    if _reported or _failed:
        return
    try:
        text = (checkpoint_dir() / LAST_REPORT_FILE).read_text()
        body = json.loads(text)
    except (OSError, ValueError):
        return
    if not isinstance(body, dict):
        return
    body.pop("checkpoint", None)
    sys.stdout.write(METRIC_PREFIX + json.dumps(body, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _note_failure(kind, value, traceback) -> None:  # type: ignore[no-untyped-def]
    global _failed
    _failed = True
    _previous_excepthook(kind, value, traceback)


_previous_excepthook = sys.excepthook
if in_trial() and resuming():
    # Only a resumed attempt of a trial needs them: importing the SDK elsewhere changes nothing.
    sys.excepthook = _note_failure
    atexit.register(_repeat_last_report)
