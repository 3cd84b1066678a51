"""Counterfactual scores: one user's scores after retraining without some of their rows.

The common core of verifying an explanation (`cfjax.evaluate.verify`) and of methods that
check candidates by retraining (`verified`): for each (user, deleted rows), retrain without
those rows (Yao et al., eq. 1) and read out that user's scores of every item, averaged over
seeds. Every distinct (user, rows) is retrained once, in ONE batched engine call.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cfjax.data.interactions import Interactions
from cfjax.models.base import Recommender
from cfjax.train.batched import retrain, user_scores_readout
from cfjax.train.fit import TrainState, pad_deletions, to_train_data
from cfjax.train.protocol import RetrainProtocol

Deletion = tuple[int, tuple[int, ...]]  # (user, sorted training rows to delete)


def deletion_rows(train: Interactions, user: int, items: Sequence[int]) -> tuple[int, ...]:
  """The sorted training rows of `user`'s interactions with `items` (a deletion).

  Raises:
    ValueError: if the user is out of range or has no training row with one of the items.
  """
  if not 0 <= int(user) < train.num_users:
    raise ValueError(f"user {user} is not in [0, {train.num_users}); pass dense user ids of "
                     "the training data")
  return tuple(sorted(int(r) for r in train.rows_of(int(user), items)))


def retrain_user_scores(model: Recommender, train: Interactions, deletions: Sequence[Deletion],
                        protocol: RetrainProtocol, *, original: TrainState | None = None,
                        progress: bool = True, description: str = "retraining",
                        return_converged: bool = False):
  """Seed-averaged scores of each deletion's user after retraining without its rows.

  Distinct deletions are retrained once each, in order of first appearance, in one `retrain`
  call (paired randomness: every model under seed s shares seed s's init and batch order).
  A model with an `exact_retrain` hook (EASE) is refit exactly by it instead (seeds, steps
  and protocol do not change a closed-form solution).

  Args:
    model: the recommender.
    train: the training interactions (row order as the original was trained).
    deletions: [M] (user, rows) pairs; rows () retrains with nothing deleted (a control).
    protocol: how to retrain (`RetrainProtocol`); scores are averaged over its seeds.
    original: the trained original (required for warm).
    progress: show the engine's progress bar.
    description: the progress bar's label.
    return_converged: also return, per deletion, the largest gradient norm and step count
      over its seeds (only with `protocol.until`).

  Returns:
    float64[M, I]: the user's seed-averaged scores of every item, per deletion; with
    return_converged, (scores, {"grad_norm": float[M], "steps": int[M]}).
  """
  if return_converged and protocol.until is None:
    raise ValueError("return_converged needs a protocol with until= (training to convergence)")
  deletions = [(int(user), tuple(int(r) for r in rows)) for user, rows in deletions]
  if not deletions:
    return np.zeros((0, train.num_items))
  index: dict[Deletion, int] = {}
  positions = np.asarray([index.setdefault(d, len(index)) for d in deletions])
  distinct = list(index)
  rows = pad_deletions([rows for _, rows in distinct])
  users = np.asarray([user for user, _ in distinct], dtype=np.int32)
  if model.exact_retrain is not None:  # closed form (EASE): exact, no seeds, no steps
    mean_scores = np.asarray(model.exact_retrain(rows, users), dtype=np.float64)
    if not return_converged:
      return mean_scores[positions]
    return mean_scores[positions], {"grad_norm": np.zeros(len(deletions)),
                                    "steps": np.zeros(len(deletions), np.int64)}
  result = retrain(model, to_train_data(train), rows, protocol, original=original,
                   readout=user_scores_readout(model), readout_args=users, progress=progress,
                   description=description)
  mean_scores = np.asarray(result.outputs, dtype=np.float64).mean(axis=1)  # [distinct, I]
  if not return_converged:
    return mean_scores[positions]
  converged = {"grad_norm": np.asarray(result.converged.grad_norm).max(axis=1)[positions],
               "steps": np.asarray(result.converged.steps).max(axis=1)[positions]}
  return mean_scores[positions], converged
