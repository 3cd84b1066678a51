"""FIA influences of a user's actions on the top-k scores, and the two FIA baselines of ACCENT.

FIA (Fast Influence Analysis, Cheng et al. KDD 2019) as ACCENT (Tran et al. SIGIR 2021, Sec.
2.1 and 3.4) uses it on NCF: the influence of the user's training row z on the predicted score
of item t, I(z, y_ut) = y_ut - y_ut^{-z} (eq. 5), estimated by eq. 4 restricted to the embedding
rows of u and t (64 parameters), with the Hessian of the loss over the rows of u or t only,
damping 1e-6 and the first-order parameter change divided by |R_ut| (the FIA implementation
ACCENT runs for NCF). `fia_influences` computes it for every user, every top-k item and every
history row in one batched call; the parameter rows come from the model's `related_rows` hook.
For a model whose predictions read its training rows (`attach_weights`, RCF), the influence also
holds the direct effect of removing z's item from what f reads (`history_effects`), as in
ACCENT's RCF code.

The two baselines (ACCENT Sec. 3.3.2) work on the resulting [K, R] matrix, as pure functions:
  * `pure_fia_select`: "sort items in I_u by I(z, y_u,rec) and add items one by one until rec
    is displaced";
  * `fia_select`: the same order, but "keep only the interactions that reduce the score gap
    between y_u,rec and the score of the second-ranked item".
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Callable, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cfjax.data.interactions import padded_histories
from cfjax.explain.base import ExplainContext, Targets, register
from cfjax.influence import related_influences
from cfjax.models.base import Recommender
from cfjax.util import check_int, check_number
from cfjax.records import Explanation
from cfjax.types import Params


class Selection(NamedTuple):
  """What a selection rule picked for one user (all indices are positions, not item ids).

  Attributes:
    positions: indices into the user's padded history of the removed rows, in removal order.
    replacement: index into the top-k list (1..K-1) of the predicted replacement, -1 if none.
    gap: predicted f(u, rec) - f(u, replacement) after the removal (< 0 on success); for a
      failure, the smallest gap reached (vs the best other top-k item).
    success: whether the predicted gap was closed.
    scores: float[K] predicted top-k scores after removing `positions`.
  """

  positions: tuple[int, ...]
  replacement: int
  gap: float
  success: bool
  scores: np.ndarray


def fia_influences(model: Recommender, params: Params, train, users: np.ndarray,
                   history_rows: np.ndarray, top_items: np.ndarray, *, damping: float = 1e-6,
                   targets_per_batch: int = 16, item_width: int | None = None) -> np.ndarray:
  """FIA influences I(z, y_u,t) of every history row z on every top-k item t (ACCENT eq. 5).

  One jitted, vmapped computation over all B * K (user, target) pairs.

  Args:
    model: the trained recommender (with the `related_rows` hook).
    params: its trained parameters.
    train: its training interactions.
    users: int[B].
    history_rows: int32[B, R] each user's padded training rows (`padded_histories`).
    top_items: int[B, K] each user's top-k list (rec first).
    damping: lambda added to FIA's Hessian (1e-6 in ACCENT's NCF code).
    targets_per_batch: (user, target) pairs vmapped together (lax.map's batch size).
    item_width: static pad width of the target items' rows (default: batch max, rounded).

  Returns:
    float[B, K, R]: I(z_r, y_{u, top_items[b, j]}), 0 at padding.
  """
  num_users, k = top_items.shape
  pair_users = np.repeat(np.asarray(users), k)
  pair_rows = np.repeat(history_rows, k, axis=0)
  influence = related_influences(model, params, train, pair_rows, pair_users,
                                 np.asarray(top_items).ravel(), damping=damping,
                                 solver="explicit", subset="target",
                                 targets_per_batch=targets_per_batch,
                                 item_width=item_width)
  influence = influence.reshape(num_users, k, history_rows.shape[1])
  if model.attach_weights is not None:
    influence = influence + history_effects(model, params, len(train), users, history_rows,
                                            top_items)
  return influence


@functools.lru_cache(maxsize=None)
def _history_effect_fn(model: Recommender, num_rows: int, rows_per_batch: int = 8):
  bind = model.attach_weights

  def one_row(params, user, items, row):
    kept = jnp.where(jnp.arange(num_rows) == row, 0.0, 1.0)
    return model.predict(bind(params, kept), jnp.full(items.shape, user, jnp.int32), items)

  @jax.jit
  def fn(params, user, items, rows):  # -> [K, R]
    base = model.predict(bind(params, jnp.ones(num_rows)), jnp.full(items.shape, user,
                                                                   jnp.int32), items)
    without = jax.lax.map(lambda row: one_row(params, user, items, row), rows,
                          batch_size=rows_per_batch)  # [R, K]
    return jnp.where(rows[None, :] >= 0, base[:, None] - without.T, 0.0)

  return fn


def history_effects(model: Recommender, params: Params, num_rows: int, users: np.ndarray,
                    history_rows: np.ndarray, top_items: np.ndarray) -> np.ndarray:
  """float[B, K, R]: f(u, t) - f^{H_u - z}(u, t) with the parameters fixed, for a model whose
  predictions read its training rows (`Recommender.attach_weights`, e.g. RCF's attention over
  the user's items): removing z also removes its item from what f reads. ACCENT's RCF code
  adds this direct effect to FIA's parameter change (it scores the changed user embedding
  with the item ignored); the Hessian and gradients stay those of the full history here."""
  fn = _history_effect_fn(model, int(num_rows))
  return np.stack([np.asarray(fn(params, jnp.int32(u), jnp.asarray(items, jnp.int32),
                                 jnp.asarray(rows, jnp.int32)))
                   for u, items, rows in zip(users, top_items, history_rows)])


def _check_inputs(scores: np.ndarray, influence: np.ndarray, valid: np.ndarray) -> None:
  if scores.ndim != 1 or scores.shape[0] < 2:
    raise ValueError(f"scores has shape {scores.shape}; pass the [K] top-k scores with K >= 2")
  if influence.shape != (scores.shape[0], valid.shape[0]):
    raise ValueError(f"influence has shape {influence.shape}, expected [K, R] = "
                     f"{(scores.shape[0], valid.shape[0])}; pass one row per top-k item")


def order_by_influence(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
  """Positions of the valid rows by decreasing value, ties to the lower position (stable)."""
  positions = np.flatnonzero(valid)
  return positions[np.argsort(-values[positions], kind="stable")]


def _best_other(scores: np.ndarray) -> int:
  return int(np.argmax(scores[1:])) + 1  # ties to the better original rank


def pure_fia_select(scores, influence, valid) -> Selection:
  """Pure FIA (ACCENT Sec. 3.3.2): remove rows by decreasing I(z, y_u,rec) until rec is displaced.

  Rows are visited in decreasing order of their influence on rec's score (ties: lower
  position first) and EVERY visited row is removed; after each removal all top-k scores are
  updated additively (eq. 7: y^{-Z} = y - sum_{z in Z} I(z, y)). It stops as soon as some other
  top-k item's predicted score exceeds rec's (strictly); that item (the highest, ties to the
  better original rank) is the replacement. If all rows are removed without displacing rec,
  the selection fails. (As in ACCENT's code, rows with negative influence are not skipped.)

  Args:
    scores: float[K] the top-k predicted scores, rec first (descending).
    influence: float[K, R] I(z_r, y_{u, top-k item j}).
    valid: bool[R] real (non-padding) history rows.

  Returns:
    The `Selection`.
  """
  scores, influence = np.asarray(scores, np.float64), np.asarray(influence, np.float64)
  valid = np.asarray(valid, bool)
  _check_inputs(scores, influence, valid)
  current, removed = scores.copy(), []
  replacement = _best_other(current)
  gap = current[0] - current[replacement]
  for position in order_by_influence(influence[0], valid):
    current = current - influence[:, position]
    removed.append(int(position))
    replacement = _best_other(current)
    gap = current[0] - current[replacement]
    if gap < 0:
      return Selection(tuple(removed), replacement, float(gap), True, current)
  return Selection(tuple(removed), -1, float(gap), False, current)


def fia_select(scores, influence, valid) -> Selection:
  """FIA (ACCENT Sec. 3.3.2): pure FIA's order, keeping a row only if it shrinks the gap.

  Rows are visited in decreasing order of I(z, y_u,rec). A row is kept only if removing it
  (on top of the rows kept so far, eq. 7) makes the gap between rec and the then
  second-ranked top-k item, y_rec - max_{j != rec} y_j, strictly smaller; otherwise it is
  skipped. It stops when that gap is negative (rec displaced; the replacement is the
  second-ranked item then, ties to the better original rank), or fails after the last row.

  Args:
    scores: float[K] the top-k predicted scores, rec first.
    influence: float[K, R] I(z_r, y_{u, top-k item j}).
    valid: bool[R].

  Returns:
    The `Selection`.
  """
  scores, influence = np.asarray(scores, np.float64), np.asarray(influence, np.float64)
  valid = np.asarray(valid, bool)
  _check_inputs(scores, influence, valid)
  current, kept = scores.copy(), []
  replacement = _best_other(current)
  gap = current[0] - current[replacement]
  for position in order_by_influence(influence[0], valid):
    trial = current - influence[:, position]
    trial_replacement = _best_other(trial)
    trial_gap = trial[0] - trial[trial_replacement]
    if trial_gap < gap:
      current, replacement, gap = trial, trial_replacement, trial_gap
      kept.append(int(position))
      if gap < 0:
        return Selection(tuple(kept), replacement, float(gap), True, current)
  return Selection(tuple(kept), -1, float(gap), False, current)


Rule = Callable[[np.ndarray, np.ndarray, np.ndarray], Selection]


def margin_attribution(influence: np.ndarray) -> np.ndarray:
  """float[R]: predicted decrease of rec's margin to the runner-up when a row alone is removed.

  I(z, y_rec - y_top2) = I(z, y_rec) - I(z, y_top2) (ACCENT eq. 6 with the original top-2 as
  the replacement): first order, and a margin to a FIXED runner-up, so it is the margin
  decrease of `cfjax.explain.base` only approximately (a deletion may promote another item).
  Chosen over I(z, y_rec) alone because the runner-up moves about as much as rec: the linear
  datamodeling score against retrained margins (`cfjax.evaluate.lds`; MF, paired scratch
  retraining, 8 random half-history deletions per target) was 0.48 vs 0.31 on 10 ML-100K
  users and 0.33 vs 0.18 on 60 synthetic ones (I(z, y_rec) alone predicts rec's own score
  better: 0.88 vs 0.33 on ML-100K).

  Args:
    influence: float[K, R] I(z_r, y_{u, top-k item j}) (eq. 5), rec first, K >= 2.
  """
  return influence[0] - influence[1]


@dataclasses.dataclass(frozen=True)
class TopKInfluence:
  """The FIA influences of every target user's history on their top-k scores (shared)."""

  top_items: np.ndarray  # int32[B, K]
  top_scores: np.ndarray  # float[B, K]
  history_rows: np.ndarray  # int32[B, R]
  history_items: np.ndarray  # int32[B, R]
  influence: np.ndarray  # float[B, K, R]
  seconds_per_user: float


@dataclasses.dataclass(frozen=True)
class InfluenceSelection:
  """Explains each user's top-1 by a selection `rule` over FIA influences on the top-k list.

  rec = the target (it must be the user's top-1 unseen item), the candidate replacements =
  the rest of the top-k (`cfjax.rank.top_k`). The FIA influences (eq. 4-5, restricted to the
  rows named by the model's `related_rows` hook, Hessian over the related rows, damping) of
  every history row on every top-k score come from ONE batched computation over all users,
  shared through the context by every rule run on it (pure FIA, FIA and ACCENT pay once);
  the rule runs per user on the host.

  A failure (no set closes the predicted gap) gives a record with deleted_items=(),
  replacement=None and extra["failed"]=True: it is NOT the empty explanation. A table should
  not retrain it but count it as not counterfactual (ACCENT's CF percentage is over all
  users) and leave it out of the average set size.

  Attributes:
    name: the method ("pure_fia", "fia" or "accent").
    rule: (scores [K], influence [K, R], valid [R]) -> `Selection`.
    replacement_k: the size of the top-k list the replacement comes from (ACCENT's k, its
      I_rep; >= 2): the candidate replacements are top-2..top-replacement_k. Not the
      validity K (which is always `k`).
    damping: lambda of FIA's Hessian (1e-6 as in ACCENT's NCF code).
    targets_per_batch: (user, target) pairs vmapped together (memory bound).
    history_width: static pad width of histories (default batch max, rounded up to 32).
    item_width: static pad width of the target items' rows (default batch max, rounded).
  """

  name: str
  rule: Rule
  replacement_k: int = 5
  damping: float = 1e-6
  targets_per_batch: int = 16
  history_width: int | None = None
  item_width: int | None = None
  requires = ("row_losses", "related_rows")
  cost: ClassVar[str] = "fast"

  def __post_init__(self):
    if check_int(self.replacement_k, f"{self.name}: replacement_k") < 2:
      raise ValueError(f"{self.name}: replacement_k={self.replacement_k} leaves no candidate "
                       "replacement; pass replacement_k >= 2")
    check_number(self.damping, f"{self.name}: damping", minimum=0)
    check_int(self.targets_per_batch, f"{self.name}: targets_per_batch", minimum=1)

  def top_k_influence(self, ctx: ExplainContext, targets: Targets) -> TopKInfluence:
    """The shared influence computation, cached on `ctx` by users and settings."""
    key = ("fia_top_k", targets.users.tobytes(), int(self.replacement_k),
           float(self.damping), int(self.targets_per_batch), self.history_width,
           self.item_width)

    def compute():
      start = time.perf_counter()
      top_items, top_scores = ctx.top_k(targets.users, int(self.replacement_k))
      rows, items = padded_histories(ctx.train, targets.users, self.history_width)
      influence = fia_influences(ctx.model, ctx.params, ctx.train, targets.users, rows,
                                 top_items, damping=self.damping,
                                 targets_per_batch=self.targets_per_batch,
                                 item_width=self.item_width)
      return TopKInfluence(top_items, top_scores, rows, items, influence,
                           (time.perf_counter() - start) / len(targets))

    return ctx.cached(key, compute)

  def check_top1(self, ctx: ExplainContext, targets: Targets) -> None:
    """One-line errors for bad targets, or a target that is not its user's top-1 item."""
    ctx.check_targets(targets)
    top1 = ctx.top_k(targets.users, 1)[0][:, 0]
    wrong = np.flatnonzero(top1 != targets.items)
    if wrong.size:
      b = int(wrong[0])
      raise ValueError(f"{self.name} explains a user's top-1 item, but target "
                       f"({targets.users[b]}, {targets.items[b]}) is not user "
                       f"{targets.users[b]}'s top-1 ({top1[b]}); pass top-1 targets")

  def attributions(self, ctx: ExplainContext, targets: Targets) -> list[dict[int, float]]:
    """[B] {history item: `margin_attribution` of its row}, from the shared FIA influences.

    See `margin_attribution`: the FIA influence on the gap between rec and the original
    runner-up (top-2), I(z, y_rec) - I(z, y_top2) (ACCENT eq. 6). Targets must be top-1.
    The same for pure_fia, fia and accent (the rule only changes the selection).
    """
    self.check_top1(ctx, targets)
    shared = self.top_k_influence(ctx, targets)
    out = []
    for b in range(len(targets)):
      valid = shared.history_rows[b] >= 0
      values = margin_attribution(shared.influence[b])
      out.append({int(shared.history_items[b, p]): float(values[p])
                  for p in np.flatnonzero(valid)})
    return out

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records; extra holds k (= replacement_k), the top-k and scores, predicted and
    initial gaps, predicted scores after removal, the influence ordering on rec's score, and
    seconds_per_pair (the shared influence computation / B, plus this rule's selection)."""
    self.check_top1(ctx, targets)
    shared = self.top_k_influence(ctx, targets)
    records = []
    for b, (user, _) in enumerate(targets):
      tick = time.perf_counter()
      valid = shared.history_rows[b] >= 0
      selection = self.rule(shared.top_scores[b], shared.influence[b], valid)
      seconds = shared.seconds_per_user + time.perf_counter() - tick
      records.append(_record(self.name, user, shared.top_items[b], shared.top_scores[b],
                             shared.history_items[b], shared.influence[b], valid, selection,
                             int(self.replacement_k), seconds))
    return records


def _record(method: str, user: int, top_items: np.ndarray, top_scores: np.ndarray,
            items: np.ndarray, influence: np.ndarray, valid: np.ndarray, selection: Selection,
            k: int, seconds_per_pair: float) -> Explanation:
  deleted = tuple(int(items[p]) for p in selection.positions) if selection.success else ()
  order = order_by_influence(influence[0], valid)
  extra = {
      "k": k,
      "failed": not selection.success,
      "top_k": [int(i) for i in top_items],
      "top_k_scores": [float(s) for s in top_scores],
      "predicted_gap": selection.gap,
      "initial_gap": float(top_scores[0] - top_scores[1]),
      "predicted_scores": [float(s) for s in selection.scores],
      "influence_order": [int(items[p]) for p in order],
      "influence_on_rec": [float(influence[0, p]) for p in order],
      "attempted_items": [int(items[p]) for p in selection.positions],
      "seconds_per_pair": seconds_per_pair,
  }
  replacement = int(top_items[selection.replacement]) if selection.success else None
  return Explanation(user, int(top_items[0]), deleted, replacement, method, extra)


register("pure_fia", functools.partial(InfluenceSelection, name="pure_fia", rule=pure_fia_select))
register("fia", functools.partial(InfluenceSelection, name="fia", rule=fia_select))
