"""Health checks: a diverged model must stop a run, not become a table.

A model whose training loss ends above where it started, or is not finite, has diverged
(e.g. Adam with a learning rate of 1e3 on MF: scores of ~1e6). Its top-K lists, and every
verdict computed from them, are meaningless, so `check_training` raises with the numbers.
So does a loss below its floor (every registered loss is a sum of non-negative terms: a
negative one means a negative penalty rewarded large weights) and a model whose scores are
non-finite or all equal (nothing to rank); a model that gives every user the same scores (not
personalised) is warned about. `train_original` and `train_original_exact` run it on every
original they train (outside the engine's compiled loop). Retrained scores get the same
treatment in `check_scores`.
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from cfjax.models.base import Recommender, weighted_loss
from cfjax.rank import scores_of
from cfjax.train.fit import TrainData
from cfjax.types import Params

EXPLODED = 100.0  # retrained scores this many times larger than the original's have exploded
LOSS_FLOOR = 0.0  # every registered loss is a sum of non-negative terms
# A loss this much (relative) above the loss at init has diverged; below it, a rise is noise: a
# short minibatch run of BPR judged on one fixed draw of negatives rose 0.6913 -> 0.6946.
LOSS_RISE_TOLERANCE = 0.05
# Scores spread less than this (relative to max(1, |score|)) are equal (`check_scores_spread`).
SPREAD_TOLERANCE = 1e-4
PROBE_USERS = 64  # users whose scores `check_trained_scores` looks at, spread over the ids


class DivergedError(ValueError):
  """Training or retraining produced non-finite or exploding numbers (the message has them)."""


@functools.lru_cache(maxsize=None)
def _loss_fn(model: Recommender):
  key = jax.random.PRNGKey(0) if model.samples_negatives else None  # one fixed draw
  return jax.jit(lambda params, data: weighted_loss(
      model, params, data.user, data.item, data.rating, jnp.ones(data.user.shape, jnp.float32),
      extra=data.extra, key=key))


def training_loss(model: Recommender, params: Params, data: TrainData) -> float:
  """The full-data training loss (Yao et al., eq. 1 with every weight 1) of `params`."""
  return float(_loss_fn(model)(params, data))


def check_training(model: Recommender, data: TrainData, *, initial: Params, trained: Params,
                   steps: int, what: str = "the original model") -> dict:
  """Raises `DivergedError` if the trained loss is not finite, above the loss at init (by
  more than `LOSS_RISE_TOLERANCE` of it) or below its floor (`LOSS_FLOOR`), or if the trained scores are degenerate
  (`check_trained_scores`).

  Returns:
    {"loss_at_init", "loss_trained"}, for config.json.
  """
  if model.closed_form is not None and not model.has("row_losses"):
    check_trained_scores(model, trained, what=what)
    return {}  # solved exactly (EASE): no training loss to diverge
  start, end = training_loss(model, initial, data), training_loss(model, trained, data)
  if not np.isfinite(end) or end > start + LOSS_RISE_TOLERANCE * abs(start):
    raise DivergedError(
        f"{what} diverged: training loss {end:.4g} after {steps} steps, {start:.4g} at init "
        f"({model.name}, {model.hparams}); lower the learning rate or fix the data")
  if end < LOSS_FLOOR:
    raise DivergedError(
        f"{what} is degenerate: training loss {end:.4g} is below {LOSS_FLOOR:g}, the floor of "
        f"a loss of non-negative terms ({model.name}, {model.hparams}); a negative penalty "
        "or weight rewards large parameters: make every regulariser >= 0")
  check_trained_scores(model, trained, what=what)
  return {"loss_at_init": start, "loss_trained": end}


def probe_users(num_users: int) -> np.ndarray:
  """int[<= PROBE_USERS]: user ids spread evenly over [0, num_users)."""
  return np.unique(np.linspace(0, num_users - 1, min(PROBE_USERS, num_users)).astype(np.int64))


def check_trained_scores(model: Recommender, params: Params, *,
                         what: str = "the original model") -> None:
  """`check_scores_spread` of a trained model's scores of `probe_users` [P, I]."""
  if model.num_users == 0 or model.num_items == 0:
    return
  check_scores_spread(scores_of(model, params, probe_users(model.num_users)),
                      what=f"{what} ({model.name}, {model.hparams})")


def check_scores_spread(scores: np.ndarray, *, what: str) -> None:
  """Raises `DivergedError` if `scores` [P, I] has non-finite entries or is one constant
  (nothing to rank); warns (`DegenerateModelWarning`) if every user's row is the same (the
  model is not personalised). Equal means within `SPREAD_TOLERANCE` * max(1, |score|)."""
  scores = np.asarray(scores, dtype=np.float64)
  if not np.isfinite(scores).all():
    bad = int((~np.isfinite(scores)).sum())
    raise DivergedError(f"{what} diverged: {bad} of {scores.size} scores are not finite; lower "
                        "the learning rate or fix the data")
  tolerance = SPREAD_TOLERANCE * max(1.0, float(np.max(np.abs(scores))))
  spread = float(np.ptp(scores))
  if spread <= tolerance:
    raise DivergedError(f"{what} is degenerate: every score is {float(scores.flat[0]):.4g} "
                        f"(spread {spread:.2g}), so it ranks nothing; with implicit feedback "
                        "(one rating value) train a ranking model such as bpr, not a rating "
                        "regressor")
  across_users = float(np.max(np.ptp(scores, axis=0)))
  if scores.shape[0] > 1 and across_users <= tolerance:
    warnings.warn(f"{what} is not personalised: all {scores.shape[0]} probed users get the same "
                  f"scores (largest difference {across_users:.2g}); check the data and the "
                  "training steps", DegenerateModelWarning, stacklevel=3)


class DegenerateModelWarning(UserWarning):
  """The trained model gives every user the same scores (it is not personalised)."""


def check_scores(scores: np.ndarray, reference: np.ndarray, *, what: str) -> None:
  """Raises `DivergedError` if `scores` has non-finite entries or is more than 100 times
  larger in magnitude than `reference` (e.g. the original model's scores of the same users)."""
  scores = np.asarray(scores)
  bad = ~np.isfinite(scores).all(axis=-1)
  if bad.any():
    raise DivergedError(f"{what}: {int(bad.sum())} of {len(bad)} retrained models gave "
                        "non-finite scores (retraining diverged); lower the learning rate or "
                        "the retraining steps")
  scale = max(1.0, float(np.max(np.abs(reference)))) if np.size(reference) else 1.0
  largest = float(np.max(np.abs(scores))) if scores.size else 0.0
  if largest > EXPLODED * scale:
    raise DivergedError(f"{what}: retrained scores reach {largest:.4g}, over {EXPLODED:g} times "
                        f"the original's largest {scale:.4g} (retraining exploded); lower the "
                        "learning rate or the retraining steps")
