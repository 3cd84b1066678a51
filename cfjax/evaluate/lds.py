"""Attribution quality by the linear datamodeling score (LDS; Park et al. 2023, TRAK).

A method that scores items (`cfjax.explain.base.has_attributions`) predicts, for each target
(u, i) and each item d of u's training history, the decrease a_d of the target's score
margin if d alone were deleted. The LDS asks whether those scores add up to the effect of
deleting a SET: for each target draw R random subsets S_1..S_R of the user's history (e.g.
half of it), delete each and retrain (paired: same seeds, the deletion the only
difference), and measure the actual margin decrease

    actual[t, r]    = m_t(theta) - m_t(theta^{-S_r}),
    m_t(theta)      = f(u, i; theta) - max_{j unseen by u in training, j != i} f(u, j; theta),

where theta is the control retrained in the same call with nothing deleted (deleted items
stay excluded from the max, as in `cfjax.rank`). The method's linear prediction is

    predicted[t, r] = sum_{d in S_r} a_d,

and the target's LDS is the Spearman rank correlation of predicted[t, :] and actual[t, :]
over the R subsets (Park et al. 2023, TRAK, "linear datamodeling score"; dattri and bergson
use the same score). TRAK sums attributions over the KEPT training subset and correlates
with the model output; here the sum runs over the DELETED items and the output is
measured as a decrease, which gives the same Spearman (both sides change sign, and the
control's margin and the history's total attribution are constant over r). The reported
number is the mean over targets with a 95% interval (`lds_summary`). An oracle
(predicted = actual) scores 1; scores independent of the model (the `random` control) ~0.

The margin, not the target's score, is what decides whether the target stays recommended;
`actual_effects(..., measure="score")` gives the drop of f(u, i) alone as well, the quantity
score-only attributions (the influence function, leave-one-out) predict. On ML-100K MF the
runner-up's score moves as much as the target's under a deletion, so the two LDS differ a
lot (the influence function: 0.67 on the score, 0.07 on the margin; FIA's gap influence:
0.33 and 0.48).

For an amortised model (no `row_losses`, a `score_rows` hook; e.g.
`cfjax.models.fold_in_recommender`) the counterfactual is exact without retraining: the
user's input row with S_r removed, re-scored (as LCER and Wen et al. define it).

Typical use:

    subsets = draw_subsets(ctx.train, targets, count=8, fraction=0.5, seed=0)
    actual = actual_effects(ctx, targets, subsets, steps=300, seeds=(0,))
    scores = lds_scores(predicted_effects(explainer.attributions(ctx, targets), subsets),
                        actual)
    lds_summary(scores)        # {"mean", "ci95", "targets", "excluded"}
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from cfjax import rank
from cfjax.data.interactions import Interactions
from cfjax.explain.base import ExplainContext, Targets
from cfjax.explain.lcer import dense_rows
from cfjax.models.base import retrainable
from cfjax.simulate import sampling
from cfjax.train.counterfactual import deletion_rows, retrain_user_scores
from cfjax.train.health import check_scores
from cfjax.train.protocol import RetrainProtocol
from cfjax.util import check_int, check_number

LDS_SALT = 0x1D5  # separates the LDS subset draws from other uses of the same seed

Subsets = Sequence[Sequence[Sequence[int]]]  # [T][R] deleted item ids


def _as_targets(targets) -> Targets:
  if isinstance(targets, Targets):
    return targets
  if isinstance(targets, (list, tuple)):
    return Targets.from_pairs(targets)
  raise ValueError(f"targets must be cfjax.explain.Targets or (user, item) pairs, got "
                   f"{type(targets).__name__}")


def subset_size(history_length: int, fraction: float) -> int:
  """Items per LDS subset: round(fraction * |I_u|) (Python's round, half to even), clipped to
  [1, |I_u| - 1] so a subset is never empty nor the whole history."""
  return int(min(max(round(fraction * history_length), 1), history_length - 1))


def draw_subsets(train: Interactions, targets, *, count: int, fraction: float,
                 seed: int) -> list[list[tuple[int, ...]]]:
  """`count` distinct random subsets of each target user's training history.

  Each subset holds `subset_size(|I_u|, fraction)` items. A user's subsets come from their
  own generator, seeded by (LDS_SALT, seed, user) (`cfjax.simulate.sampling`), so they are
  reproducible and do not depend on the other targets of the batch; two targets of one user
  get the same subsets (so one retrain serves both).

  Args:
    train: the training interactions.
    targets: `Targets` (or (user, item) pairs), T of them.
    count: R, subsets per target (>= 1).
    fraction: share of the history deleted per subset, in (0, 1) (0.5: a random half).
    seed: a non-negative int.

  Returns:
    `[T][R]` tuples of item ids, each sorted.

  Raises:
    ValueError: on bad arguments, a user with fewer than 2 training items, or a history
      with fewer than `count` distinct subsets of that size.
  """
  targets = _as_targets(targets)
  count = check_int(count, "LDS subsets per target (count)", minimum=1)
  fraction = check_number(fraction, "LDS deleted fraction", minimum=0, maximum=1)
  if not 0 < fraction < 1:
    raise ValueError(f"LDS deleted fraction={fraction:g} must lie strictly between 0 and 1 "
                     "(0.5 deletes a random half)")
  seed = check_int(seed, "LDS seed", minimum=0)
  out = []
  for user in targets.users.tolist():
    if not 0 <= user < train.num_users:
      raise ValueError(f"target user {user} is not in [0, {train.num_users}); pass dense user "
                       "ids of the training data")
    history = train.history_items(user)
    if len(history) < 2:
      raise ValueError(f"user {user} has {len(history)} training items; the LDS deletes a "
                       "strict, non-empty subset, so drop users with fewer than 2")
    size = subset_size(len(history), fraction)
    if math.comb(len(history), size) < count:
      raise ValueError(f"user {user}'s {len(history)} items have only "
                       f"{math.comb(len(history), size)} subsets of {size}, fewer than "
                       f"count={count}; lower count or drop short histories")
    rng = np.random.default_rng([LDS_SALT, seed, user])
    drawn = sampling.sample_subsets(history, count, size, rng)
    out.append([tuple(int(i) for i in row) for row in drawn])
  return out


def _check_subsets(train: Interactions, targets: Targets, subsets: Subsets) -> int:
  """R, after one-line errors for subsets that do not fit the targets or their histories."""
  if len(subsets) != len(targets):
    raise ValueError(f"{len(subsets)} subset lists for {len(targets)} targets; pass one list "
                     "per target (draw_subsets)")
  counts = {len(per_target) for per_target in subsets}
  if len(counts) != 1 or 0 in counts:
    raise ValueError(f"targets have {sorted(counts)} subsets; pass the same number (>= 1) for "
                     "every target")
  for t, ((user, _), per_target) in enumerate(zip(targets, subsets)):
    history = set(train.history_items(user).tolist())
    for subset in per_target:
      items = [int(i) for i in subset]
      if not items or len(set(items)) != len(items) or not set(items) <= history:
        raise ValueError(f"target {t}: subset {tuple(items)} must be non-empty, distinct items "
                         f"of user {user}'s training history")
  return counts.pop()


def target_margins(scores, seen, items) -> np.ndarray:
  """float64[...]: m = f(i) - max_{j unseen, j != i} f(j), the margin of each target item.

  Args:
    scores: float[..., I] scores of every item.
    seen: bool[..., I] the user's training items (excluded from the max; deleted items stay
      excluded, as in `cfjax.rank`).
    items: int[...] the target item of each row (unseen).
  """
  scores = np.asarray(scores, np.float64)
  items = np.broadcast_to(np.asarray(items, np.int64), scores.shape[:-1])[..., None]
  excluded = np.array(np.broadcast_to(seen, scores.shape), dtype=bool)
  np.put_along_axis(excluded, items, True, axis=-1)
  others = np.where(excluded, -np.inf, scores).max(axis=-1)
  return np.take_along_axis(scores, items, axis=-1)[..., 0] - others


def margin_decreases(after, before, seen, items) -> np.ndarray:
  """float64[T, R]: m(before) - m(after) per target and subset (`target_margins`).

  Args:
    after: float[T, R, I] scores after each deletion.
    before: float[T, I] the control's scores (nothing deleted, same seeds).
    seen: bool[T, I] each target user's training items.
    items: int[T] the target items.
  """
  seen, items = np.asarray(seen, bool), np.asarray(items, np.int64)
  return (target_margins(before, seen, items)[:, None]
          - target_margins(after, seen[:, None, :], items[:, None]))


MEASURES = ("margin", "score")


def score_decreases(after, before, items) -> np.ndarray:
  """float64[T, R]: f_i(before) - f_i(after), the drop of the target item's own score.

  Args:
    after: float[T, R, I]; before: float[T, I]; items: int[T] (as `margin_decreases`).
  """
  after, before = np.asarray(after, np.float64), np.asarray(before, np.float64)
  rows = np.arange(len(before))
  return before[rows, items][:, None] - after[rows, :, items]


def _decreases(after, before, seen, items, measure: str) -> np.ndarray:
  if measure == "score":
    return score_decreases(after, before, items)
  return margin_decreases(after, before, seen, items)


@functools.lru_cache(maxsize=None)
def _jitted_score_rows(score_rows):
  return jax.jit(score_rows)


def _amortised_scores(ctx: ExplainContext, rows: np.ndarray, *, multiple: int = 64):
  """float64[B, I]: `score_rows` of input rows [B, I], padded to a multiple of rows."""
  score = _jitted_score_rows(ctx.model.require("score_rows", "the LDS's input edits"))
  size = -(-len(rows) // multiple) * multiple
  padded = np.concatenate([rows, np.repeat(rows[:1], size - len(rows), axis=0)])
  return np.asarray(score(ctx.params, jnp.asarray(padded, jnp.float32)),
                    np.float64)[:len(rows)]


def _edited_scores(ctx: ExplainContext, targets: Targets, subsets: Subsets):
  """(after [T, R, I], before [T, I]) of an amortised model: input rows edited, re-scored."""
  factual = dense_rows(ctx.train, targets.users)  # [T, I]
  edited = np.repeat(factual[:, None, :], len(subsets[0]), axis=1)  # [T, R, I]
  for t, per_target in enumerate(subsets):
    for r, subset in enumerate(per_target):
      edited[t, r, np.asarray(subset, np.int64)] = 0.0
  scores = _amortised_scores(ctx, np.concatenate([factual, edited.reshape(-1, factual.shape[1])]))
  return scores[len(factual):].reshape(edited.shape), scores[:len(factual)]


def actual_effects(ctx: ExplainContext, targets, subsets: Subsets, *,
                   protocol: str = "scratch", steps: int | None = None,
                   seeds: Sequence[int] = (0,), batch_size: int | None = None,
                   chunk_size: int = 64, progress: bool = True,
                   measure: str | Sequence[str] = "margin"):
  """The actual decrease of each target's margin when each subset is deleted (the module's
  `actual[t, r]`), or of its own score with measure="score".

  Retrainable models (`row_losses`): every (user, subset) and one control per user (nothing
  deleted) are retrained in ONE `retrain_user_scores` call under the same `seeds` (paired
  randomness: the deletion is the only difference), scores averaged over seeds, and the
  margin change is taken against that control, never against a separately trained
  original. Identical deletions (two targets of one user) are retrained once.
  Amortised models (no `row_losses`, a `score_rows` hook): the user's input row with the
  subset removed, re-scored; exact, so `protocol`, `steps`, `seeds`, `batch_size` and
  `chunk_size` are not used.

  Args:
    ctx: the context (model, params, training data; `original` for warm).
    targets: `Targets` (or (user, item) pairs), T of them, unseen by their users.
    subsets: `[T][R]` deleted item ids per target (`draw_subsets`).
    protocol: "scratch" or "warm" (continue from `ctx.original`).
    steps: optimizer steps per retrain (required for retraining).
    seeds: retraining seeds (the original's seed for the paired protocol).
    batch_size: rows per step, or None for full batch.
    chunk_size: models per compiled engine call.
    progress: show the engine's progress bar.
    measure: "margin" (the LDS's quantity, default) or "score": f(u, i) alone, without the
      runner-up (`score_decreases`), the quantity the influence function, FIA's I(z, y_rec)
      and leave-one-out attributions predict; comparing the two LDS separates "predicts the
      target's score" from "predicts whether it stays on top". A tuple of measures gives
      {measure: array} from ONE retraining.

  Returns:
    float64[T, R]: margin (or score) decrease (positive: the deletion pushed the target down);
    a dict of them for a tuple of measures.

  Raises:
    ValueError: on bad targets, subsets or settings (one line, before any retraining).
    MissingHookError: for a model with neither `row_losses` nor `score_rows`.
    DivergedError: if retraining gave non-finite or exploding scores.
  """
  targets = _as_targets(targets)
  ctx.check_targets(targets)
  measures = (measure,) if isinstance(measure, str) else tuple(measure)
  if not measures or any(m not in MEASURES for m in measures):
    raise ValueError(f"measure={measure!r}: pass one or more of {MEASURES}")
  decreases = lambda after, before: (
      _decreases(after, before, seen, targets.items, measure) if isinstance(measure, str) else
      {m: _decreases(after, before, seen, targets.items, m) for m in measures})
  count = _check_subsets(ctx.train, targets, subsets)
  seen = rank.seen_rows(ctx.train, targets.users)
  model = ctx.model
  if not model.has("row_losses") and model.has("score_rows"):
    return decreases(*_edited_scores(ctx, targets, subsets))
  if not retrainable(model):
    model.require("row_losses", "the LDS's actual effects (retraining)")
  check_int(steps, "LDS retraining steps", minimum=1)
  seeds = [check_int(s, "LDS retraining seed") for s in seeds]
  if not seeds:
    raise ValueError("no retraining seeds given; pass seeds=(the original's seed,)")
  if protocol not in ("scratch", "warm"):
    raise ValueError(f"protocol={protocol!r} is not 'scratch' or 'warm'")
  original = ctx.require_original("warm LDS retraining") if protocol == "warm" else ctx.original
  deletions = [(user, deletion_rows(ctx.train, user, subset))
               for (user, _), per_target in zip(targets, subsets) for subset in per_target]
  distinct = np.unique(targets.users)
  controls = [(int(user), ()) for user in distinct]
  retraining = RetrainProtocol(steps=steps, batch_size=batch_size, seeds=tuple(seeds),
                               kind=protocol, chunk_size=chunk_size)
  scores = retrain_user_scores(model, ctx.train, deletions + controls, retraining,
                               original=original, progress=progress, description="LDS retraining")
  check_scores(scores, rank.scores_of(model, ctx.params, distinct),
               what=f"LDS retraining ({protocol}, {steps} steps)")
  after = scores[:len(deletions)].reshape(len(targets), count, -1)
  before = scores[len(deletions):][np.searchsorted(distinct, targets.users)]
  return decreases(after, before)


def predicted_effects(attributions: Sequence[dict], subsets: Subsets) -> np.ndarray:
  """float64[T, R]: sum_{d in S_r} a_d, each subset's summed attributions (items without an
  attribution count 0).

  Args:
    attributions: [T] {item: predicted margin decrease} (an explainer's `attributions`).
    subsets: `[T][R]` deleted item ids.
  """
  if len(attributions) != len(subsets):
    raise ValueError(f"{len(attributions)} attribution dicts for {len(subsets)} subset lists; "
                     "pass one of each per target")
  counts = {len(per_target) for per_target in subsets}
  if len(counts) > 1:
    raise ValueError(f"targets have {sorted(counts)} subsets; pass the same number for every "
                     "target")
  return np.asarray([[sum(float(scores.get(int(d), 0.0)) for d in subset)
                      for subset in per_target]
                     for scores, per_target in zip(attributions, subsets)],
                    np.float64).reshape(len(subsets), counts.pop() if counts else 0)


def lds_scores(predicted, actual) -> np.ndarray:
  """float64[T]: each target's LDS, the Spearman correlation (`scipy.stats.spearmanr`) of its
  predicted and actual effects over its R subsets; NaN where either side is constant.

  Args:
    predicted: float[T, R] (`predicted_effects`).
    actual: float[T, R] (`actual_effects`).
  """
  predicted, actual = np.asarray(predicted, np.float64), np.asarray(actual, np.float64)
  if predicted.shape != actual.shape or predicted.ndim != 2 or predicted.shape[1] < 2:
    raise ValueError(f"predicted {predicted.shape} and actual {actual.shape} must share one "
                     "shape [T, R] with R >= 2 subsets per target")
  for name, values in (("predicted", predicted), ("actual", actual)):
    if not np.isfinite(values).all():
      t = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
      raise ValueError(f"{name} effects of target {t} are not finite; check the attributions "
                       "or the retraining")
  out = np.full(len(predicted), np.nan)
  for t, (p, a) in enumerate(zip(predicted, actual)):
    if np.ptp(p) > 0 and np.ptp(a) > 0:
      out[t] = scipy.stats.spearmanr(p, a).statistic
  return out


def lds_summary(scores) -> dict:
  """The mean LDS over targets with a finite score, and its 95% t-interval.

  The interval is Student's t over targets, mean +- t_{0.975, n-1} * sd / sqrt(n)
  (`scipy.stats.t.interval` with `scipy.stats.sem`); NaN bounds for fewer than 2 targets.
  Tables print the interval only from `significance.MIN_TARGETS` targets (on 2 targets it
  spans about -7 to 8: `leaderboard.interval` prints "n = 2: too small for an interval").

  Args:
    scores: float[T] per-target LDS (`lds_scores`; NaN targets are left out).

  Returns:
    {"mean": float (NaN without finite targets), "ci95": [low, high], "targets": the number
      of finite targets averaged, "excluded": the number of NaN targets}.
  """
  scores = np.asarray(scores, np.float64).ravel()
  finite = scores[np.isfinite(scores)]
  n = len(finite)
  mean = float(finite.mean()) if n else math.nan
  if n < 2:
    low = high = math.nan
  elif np.ptp(finite) == 0:
    low = high = mean
  else:
    low, high = (float(x) for x in scipy.stats.t.interval(0.95, n - 1, loc=mean,
                                                          scale=scipy.stats.sem(finite)))
  return {"mean": mean, "ci95": [low, high], "targets": n, "excluded": int(len(scores) - n)}


__all__ = ["MEASURES", "actual_effects", "draw_subsets", "lds_scores", "lds_summary",
           "margin_decreases", "predicted_effects", "score_decreases", "subset_size",
           "target_margins"]
