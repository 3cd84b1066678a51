"""Metagradient explanations: the exact derivative of a target's margin through training.

A counterfactual model is the original training run with some row weights set to 0 (Yao et
al., eq. 1). Training is a deterministic function of the weights, theta_T(w) = fit(w), so the
target's margin m(w) = f_{theta_T(w)}(u, i) - f_{theta_T(w)}(u, j) (j: the item ranked just
below the list, the (K+1)-th, as a fixed competitor) has an exact derivative with respect to
every row's weight,

    g_n = d m / d w_n  at w = 1   (float[N]),

obtained by reverse-mode differentiation through every optimizer step of the SAME `fit` the
engine runs (scratch: from the seed's init; warm: from the trained original and its Adam
state; full batch or minibatch with the seed's paired batch order). Deleting a set S changes
the margin by about -sum_{n in S} g_n: the explainer deletes the e rows with the largest g_n
(the most negative predicted effect), the adaptive variant adds rows in that order until the
predicted margin m - sum g_n crosses zero (ACCENT's loop, Tran et al. 2021, with the
metagradient in place of FIA's influence).

This is the "hypergradient through unrolled optimisation" of Domke (2012), Maclaurin et al.
(2015, "Gradient-based hyperparameter optimization through reversible learning") and
Franceschi et al. (2017), with row weights as the hyperparameters; MAGIC (Ilyas & Engstrom,
"MAGIC: near-optimal data attribution for deep learning", arXiv 2504.16430) showed that the
exact metagradient of a deterministic training run predicts retraining outcomes almost
perfectly where influence functions do not. Cost: ONE forward trajectory per original (cached
on the context), `jax.vjp` once, and the pullback vmapped over chunks of targets; the
forward runs in `jax.checkpoint` blocks of `remat_every` steps (default ~sqrt(steps)), so the
reverse pass keeps one state per block and recomputes the steps inside a block.

When it is meaningful. The derivative is of the final iterate of a finite training run, so it
predicts retraining only when that iterate depends smoothly and stably on the weights: when
training ends at a fixed point. A step size that decays to 0 (MF/NCF with
`schedule="cosine", decay_steps=steps`, `cfjax.models.base.adam_with_schedule`) or gradient
descent on a strongly convex loss trained to convergence (where the metagradient equals the
influence function, tested) qualify. Constant-lr Adam does NOT: near a minimum its steps are
lr * m / sqrt(v) with v tiny, the unrolled map is expanding and the derivative is noise (on
MovieLens 100K MF it removed 0 of 10 top-1s at e = 3 where the cosine schedule removed 8 of
10, issue 16; with the cosine schedule, 20 of 30 in `benchmarks.metagrad_bench`,
docs/metagrad.md). Under the warm protocol after a cosine schedule the step size is already 0 and
every metagradient is 0. Records carry the trajectory's final gradient norm, and the
explainer warns when the model declares a constant schedule.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from cfjax.data.interactions import padded_histories
from cfjax.explain.base import ExplainContext, Targets, register
from cfjax.models.base import Recommender, weighted_loss
from cfjax.records import Explanation
from cfjax.train.fit import TrainData, TrainState, fit, init_state, seed_keys, to_train_data
from cfjax.types import Array, Params
from cfjax.util import check_int

PROTOCOLS = ("scratch", "warm")
MEASURES = ("margin", "score")


def default_remat_every(steps: int) -> int:
  """Block length of the checkpointed forward: ~sqrt(steps) (memory ~ 2 sqrt(steps) states)."""
  return max(1, int(round(math.sqrt(max(int(steps), 1)))))


@dataclasses.dataclass(frozen=True)
class Trajectory:
  """One differentiated training run: its final parameters and the pullback of w -> theta_T.

  Attributes:
    params: theta_T(1), the final parameters of the forward run (a pytree).
    pullback: the vjp of w -> theta_T(w) at w = 1: params-cotangent -> (float32[N],).
    final_grad_norm: ||grad L(theta_T; 1)||_2 of the full training loss (near 0: a fixed
      point, where the metagradient is meaningful).
    seconds: wall time of the forward pass (compiles included).
  """

  params: Params
  pullback: object
  final_grad_norm: float
  seconds: float


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _final_params(model, steps, batch_size, remat_every, data, weights, start, order_key):
  return fit(model, data, weights, state=start, order_key=order_key, steps=steps,
             batch_size=batch_size, remat_every=remat_every).params


@functools.partial(jax.jit, static_argnums=(0,))
def _grad_norm(model, params, data):
  weights = jnp.ones((data.num_rows,), jnp.float32)
  # a negative-sampling model's loss depends on a key: one fixed draw (a diagnostic only)
  key = jax.random.PRNGKey(0) if getattr(model, "samples_negatives", False) else None
  grads = jax.grad(lambda p: weighted_loss(model, p, data.user, data.item, data.rating,
                                           weights, extra=data.extra, key=key))(params)
  return jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))


def trajectory(model: Recommender, data: TrainData, *, start: TrainState, order_key: Array,
               steps: int, batch_size: int | None, remat_every: int | None = None
               ) -> Trajectory:
  """Runs `fit` once with all weights 1 and keeps its pullback (the forward of `jax.vjp`).

  Args:
    model: the recommender.
    data: training rows [N].
    start: the start state (fresh init for scratch, the trained original for warm).
    order_key: the minibatch order key (paired with the engine's retrains).
    steps: optimizer steps.
    batch_size: rows per step, or None for full batch.
    remat_every: checkpoint block length (default `default_remat_every(steps)`).

  Returns:
    The `Trajectory`.
  """
  check_int(steps, "metagrad steps", minimum=1)
  remat = default_remat_every(steps) if remat_every is None else check_int(
      remat_every, "remat_every", minimum=1)
  start_time = time.perf_counter()
  weights = jnp.ones((data.num_rows,), jnp.float32)
  params, pullback = jax.vjp(
      lambda w: _final_params(model, int(steps), batch_size, remat, data, w, start, order_key),
      weights)
  norm = float(_grad_norm(model, params, data))
  return Trajectory(params, pullback, norm, time.perf_counter() - start_time)


@functools.partial(jax.jit, static_argnums=(0,))
def _margin_cotangents(model, params, users, items, competitors):
  """d margin_b / d theta for each target b: a params pytree with leading axis [B].

  margin_b = f(u_b, i_b) - f(u_b, j_b), or f(u_b, i_b) where j_b < 0 (the score alone).
  """

  def margin(p, user, item, competitor):
    pair = model.predict(p, jnp.stack([user, user]),
                         jnp.stack([item, jnp.maximum(competitor, 0)]))
    return pair[0] - jnp.where(competitor >= 0, pair[1], 0.0)

  return jax.vmap(jax.grad(margin), in_axes=(None, 0, 0, 0))(params, users, items, competitors)


@jax.jit
def _pull(pullback, cotangents):
  """The pullback vmapped over targets: [B] params cotangents -> float32[B, N]."""
  return jax.vmap(lambda c: pullback(c)[0])(cotangents)


def metagradients(model: Recommender, traj: Trajectory, users, items, competitors, *,
                  targets_per_batch: int = 16) -> np.ndarray:
  """d margin_b / d w_n for every target b and training row n: float32[B, N].

  The pullback runs vmapped over chunks of `targets_per_batch` targets (the last chunk padded
  with copies, so it compiles once); every chunk reuses the one forward trajectory.

  Args:
    model: the recommender the trajectory was run with.
    traj: `trajectory(...)`.
    users: int[B] the targets' users.
    items: int[B] the targets' items.
    competitors: int[B] the item whose score is subtracted, or -1 for the score alone.
    targets_per_batch: targets per vmapped pullback.

  Returns:
    float32[B, N].
  """
  users, items, competitors = (np.asarray(x, np.int32).ravel() for x in (users, items,
                                                                          competitors))
  check_int(targets_per_batch, "targets_per_batch", minimum=1)
  count = users.size
  chunk = min(int(targets_per_batch), count)
  out = []
  for start in range(0, count, chunk):
    index = np.arange(start, start + chunk).clip(max=count - 1)
    cotangents = _margin_cotangents(model, traj.params, jnp.asarray(users[index]),
                                    jnp.asarray(items[index]), jnp.asarray(competitors[index]))
    out.append(np.asarray(_pull(traj.pullback, cotangents))[: min(chunk, count - start)])
  return np.concatenate(out)


@register("metagrad")
@dataclasses.dataclass(frozen=True)
class Metagrad:
  """Deletes the e history rows whose metagradient predicts the largest margin decrease.

  Meaningful only when training ends at a fixed point (see the module docstring): e.g. MF or
  NCF built with schedule="cosine", decay_steps=steps, not constant-lr Adam.

  Attributes:
    e: explanation size.
    k: the list length; the competitor is the (k+1)-th unseen item of the original.
    measure: "margin" (target minus competitor, default) or "score" (the target's score).
    protocol: "scratch" (differentiate the original's training from its init, as the
      paired scratch verification retrains) or "warm" (the continuation of `warm_steps`
      steps from the trained original and its optimizer state).
    warm_steps: steps of the warm continuation.
    remat_every: checkpoint block length (None: ~sqrt(steps)).
    targets_per_batch: targets per vmapped pullback.
    on_constant_lr: "warn" (default) or "ignore" when the model declares a constant step size
      (hparams without schedule="cosine"), where the metagradient is not meaningful.
    name: the method name.
  """

  e: int = 3
  k: int = 1
  measure: str = "margin"
  protocol: str = "scratch"
  warm_steps: int = 100
  remat_every: int | None = None
  targets_per_batch: int = 16
  on_constant_lr: str = "warn"
  name: str = "metagrad"
  requires = ("row_losses",)
  cost: ClassVar[str] = "slow"

  def __post_init__(self):
    check_int(self.e, f"{self.name}: e", minimum=1)
    check_int(self.k, f"{self.name}: k", minimum=1)
    check_int(self.warm_steps, f"{self.name}: warm_steps", minimum=1)
    check_int(self.targets_per_batch, f"{self.name}: targets_per_batch", minimum=1)
    if self.remat_every is not None:
      check_int(self.remat_every, f"{self.name}: remat_every", minimum=1)
    for option, value, choices in (("measure", self.measure, MEASURES),
                                   ("protocol", self.protocol, PROTOCOLS),
                                   ("on_constant_lr", self.on_constant_lr, ("warn", "ignore"))):
      if value not in choices:
        raise ValueError(f"{self.name}: {option}={value!r} is not one of {choices}")

  # ------------------------------------------------------------------ shared computation
  def trajectory(self, ctx: ExplainContext) -> Trajectory:
    """The context's one differentiated training run (cached per protocol and settings)."""
    spec = ctx.require_spec(self.name)
    if (self.on_constant_lr == "warn"
        and ctx.model.hparams.get("schedule", "constant") == "constant"):
      warnings.warn(f"{self.name}: model {ctx.model.name!r} trains with a constant step size; "
                    "the metagradient is only meaningful when training ends at a fixed point "
                    "(build it with schedule='cosine', decay_steps=steps)", stacklevel=3)
    steps = spec.steps if self.protocol == "scratch" else self.warm_steps
    key = ("metagrad_trajectory", self.protocol, int(steps), spec.batch_size, spec.seed,
           self.remat_every)

    def compute():
      init_key, order_key = seed_keys(spec.seed)
      start = (init_state(ctx.model, init_key) if self.protocol == "scratch"
               else ctx.require_original(f"{self.name} (protocol='warm')"))
      return trajectory(ctx.model, to_train_data(ctx.train), start=start, order_key=order_key,
                        steps=int(steps), batch_size=spec.batch_size,
                        remat_every=self.remat_every)

    return ctx.cached(key, compute)

  def competitors(self, ctx: ExplainContext, targets: Targets) -> np.ndarray:
    """int[B]: each target's competitor, the (k+1)-th unseen item of the original's list
    (the k-th if the target itself is below it), or -1 for measure="score"."""
    if self.measure == "score":
      return np.full(len(targets), -1, np.int64)
    lists = ctx.top_k(targets.users, self.k + 1)[0]
    out = []
    for row, item in zip(lists, targets.items):
      others = [int(j) for j in row if j != item]
      out.append(others[self.k - 1] if item in row[: self.k] else others[0])
    return np.asarray(out, np.int64)

  def history_metagradients(self, ctx: ExplainContext, targets: Targets):
    """Each target's padded history and its rows' metagradients, cached on the context.

    Returns:
      (rows int32[B, R], items int32[B, R] as `padded_histories`, g float64[B, R] = d m / d w
      of each history row (0 where padded), margins float64[B] of theta_T, competitors
      int64[B] (-1: none), seconds per target (the forward pass shared over the targets plus
      their pullbacks)).
    """
    key = ("metagrad", targets.users.tobytes(), targets.items.tobytes(), self.k, self.measure,
           self.protocol, self.warm_steps, self.remat_every, self.targets_per_batch)

    def compute():
      start = time.perf_counter()
      traj = self.trajectory(ctx)
      competitors = self.competitors(ctx, targets)
      grads = metagradients(ctx.model, traj, targets.users, targets.items, competitors,
                            targets_per_batch=self.targets_per_batch)
      rows, history_items = padded_histories(ctx.train, targets.users)
      g = np.where(rows >= 0, np.take_along_axis(grads, np.maximum(rows, 0), axis=1), 0.0)
      predict = ctx.model.predict
      target_scores = np.asarray(predict(traj.params, jnp.asarray(targets.users, jnp.int32),
                                         jnp.asarray(targets.items, jnp.int32)), np.float64)
      rival = np.asarray(predict(traj.params, jnp.asarray(targets.users, jnp.int32),
                                 jnp.asarray(np.maximum(competitors, 0), jnp.int32)), np.float64)
      margins = target_scores - np.where(competitors >= 0, rival, 0.0)
      return (rows, history_items, g.astype(np.float64), margins, competitors,
              (time.perf_counter() - start) / len(targets))

    return ctx.cached(key, compute)

  def attributions(self, ctx: ExplainContext, targets: Targets) -> list[dict[int, float]]:
    """[B] {history item: g_n = d margin / d w_n}: the first-order predicted margin DECREASE
    when the row alone is deleted (w_n: 1 -> 0 changes the margin by about -g_n), the
    convention of `cfjax.explain.base`; with measure="score", of the target's score."""
    ctx.check_targets(targets)
    rows, items, g, *_ = self.history_metagradients(ctx, targets)
    return [{int(items[b, p]): float(g[b, p]) for p in np.flatnonzero(valid)}
            for b, valid in enumerate(rows >= 0)]

  def _record(self, ctx, user, item, chosen, items, g, margin, competitor, seconds, extra):
    traj = self.trajectory(ctx)
    return Explanation(user, item, tuple(int(items[p]) for p in chosen), None, self.name,
                       {"predicted_margin_change": float(-g[chosen].sum()),
                        "original_margin": float(margin),
                        "predicted_margin": float(margin - g[chosen].sum()),
                        "metagradients": [float(g[p]) for p in chosen],
                        "competitor": int(competitor), "measure": self.measure,
                        "protocol": self.protocol,
                        "final_grad_norm": traj.final_grad_norm,
                        "seconds_per_target": seconds, **extra})

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records: the e rows with the largest metagradient; extra holds the predicted
    margin change, the original and predicted margins, the competitor, the trajectory's
    final gradient norm and seconds per target."""
    e = int(self.e)
    ctx.check_targets(targets, min_history=e, reason=f"{self.name} deletes {e} items")
    rows, items, g, margins, competitors, seconds = self.history_metagradients(ctx, targets)
    records = []
    for b, (user, item) in enumerate(targets):
      valid = np.flatnonzero(rows[b] >= 0)
      chosen = valid[np.argsort(-g[b, valid], kind="stable")[:e]]
      records.append(self._record(ctx, user, item, chosen, items[b], g[b], margins[b],
                                  competitors[b], seconds, {"e": e}))
    return records


@register("metagrad_adaptive")
@dataclasses.dataclass(frozen=True)
class MetagradAdaptive(Metagrad):
  """Adds history rows in metagradient order until the predicted margin crosses zero
  (ACCENT-style, Tran et al. 2021, Algorithm 1, with the metagradient in place of FIA).

  Attributes (beyond `Metagrad`'s; `e` is unused):
    max_e: the most rows deleted; a target whose prediction does not cross zero by then
      gets its `max_e` best rows and extra["failed"] = True (not counted as found).
  """

  max_e: int = 10
  name: str = "metagrad_adaptive"

  def __post_init__(self):
    super().__post_init__()
    check_int(self.max_e, f"{self.name}: max_e", minimum=1)

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records of the smallest metagradient prefix whose predicted margin is < 0."""
    ctx.check_targets(targets)
    rows, items, g, margins, competitors, seconds = self.history_metagradients(ctx, targets)
    records = []
    for b, (user, item) in enumerate(targets):
      valid = np.flatnonzero(rows[b] >= 0)
      order = valid[np.argsort(-g[b, valid], kind="stable")][: int(self.max_e)]
      predicted = margins[b] - np.cumsum(g[b, order])
      crossed = np.flatnonzero(predicted < 0)
      size = int(crossed[0]) + 1 if crossed.size else len(order)
      records.append(self._record(ctx, user, item, order[:size], items[b], g[b], margins[b],
                                  competitors[b], seconds,
                                  {"e": size, "failed": not crossed.size}))
    return records
