"""Health checks: a diverged model must stop a run, not become a table.

A model whose training loss ends above where it started, or is not finite, has diverged
(e.g. Adam with a learning rate of 1e3 on MF: scores of ~1e6). Its top-K lists, and every
verdict computed from them, are meaningless, so `check_training` raises with the numbers.
Retrained scores get the same treatment in `check_scores`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from cfjax.models.base import Recommender, weighted_loss
from cfjax.train.fit import TrainData
from cfjax.types import Params

EXPLODED = 100.0  # retrained scores this many times larger than the original's have exploded


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
  """Raises `DivergedError` if the trained loss is not finite or above the loss at init.

  Returns:
    {"loss_at_init", "loss_trained"}, for config.json.
  """
  if model.closed_form is not None and not model.has("row_losses"):
    return {}  # solved exactly (EASE): no training loss to diverge
  start, end = training_loss(model, initial, data), training_loss(model, trained, data)
  if not np.isfinite(end) or end > start:
    raise DivergedError(
        f"{what} diverged: training loss {end:.4g} after {steps} steps, {start:.4g} at init "
        f"({model.name}, {model.hparams}); lower the learning rate or fix the data")
  return {"loss_at_init": start, "loss_trained": end}


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
