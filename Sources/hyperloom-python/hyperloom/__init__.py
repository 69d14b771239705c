"""Hyperloom's Python SDK (pure Python over pyzmq; pandas optional). Guide: Docs/python.md.

* Inside a trial run by a worker: :func:`config`, :func:`report`, :func:`checkpoint_dir`,
  :func:`resuming`, :func:`budget`.
* Studies, in Optuna's shape: :func:`create_study`, :func:`load_study`, :class:`Study`
  (``ask``/``tell``, ``optimize``, ``best_trial``, ``trials_dataframe``), :class:`TrialPruned`.
* The event feed: :func:`feed`.
"""
from ._wire import Connection, HyperloomError, Unreachable
from .feed import FeedEvent, feed, feed_endpoints
from .study import (FrozenTrial, LeaseLost, Study, StudyDone, Trial, TrialPruned, create_study,
                    load_study)
from .trial import attempt, budget, checkpoint_dir, config, in_trial, report, resuming, trial_id

__version__ = "0.1.0"

__all__ = [
    "Connection", "HyperloomError", "Unreachable", "FeedEvent", "feed", "feed_endpoints", "FrozenTrial", "LeaseLost",
    "Study", "StudyDone", "Trial", "TrialPruned", "create_study", "load_study", "attempt", "budget", "checkpoint_dir",
    "config", "in_trial", "report", "resuming", "trial_id",
]
