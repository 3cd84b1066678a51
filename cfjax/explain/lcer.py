"""LCER: learning-based counterfactual explanations (Wen et al., Sci China Inf Sci 2024).

For a user u with factual feedback x_u^f and a recommended item i in the top-K, LCER learns an
importance for every interacted item (eq. 7: e_u ~ Bernoulli(t_u)), parameterised here as two
logits per item (remove, keep) as in the reference code. Each step draws a hard sample with the
straight-through Gumbel-softmax (temperature 1), removes the sampled items (eq. 8:
x_u^cf = (1 - e_u) * x_u^f), and takes an Adam step (1e-3) on eq. (12):

  L = max(0, alpha + g_i(x_u^cf) - g_{K+1}(x_u^f)) + lambda * sum_j e_uj,

where g are the recommender's scores (Mult-VAE decoder logits with the mean latent) and
g_{K+1}(x_u^f) is the factual score of the (K+1)-th item, the threshold of eq. (9). After
`steps` steps (3000) the sample of the lowest-loss step is kept and accepted only if eq. (9),
g_i(x_u^cf) < g_{K+1}(x_u^f), holds for it (Algorithm 1, lines 9-13); otherwise C is empty.

Every (user, item) pair is optimised in ONE vmapped computation, each pair with its own logits,
its own Adam state and its own Gumbel noise: the result is identical to optimising the pairs one
at a time (tests/explain/test_lcer.py checks it).

Counterfactual = input edit: Mult-VAE is amortised (no per-user parameters), so the
recommendation of a held-out (fold-in) user is a pure function of the user's input row. Removing
items from that row and re-scoring IS the counterfactual world; nothing is retrained.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Callable, ClassVar

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from cfjax.data.interactions import Interactions
from cfjax.explain.base import ExplainContext, Targets, register
from cfjax.util import check_int, check_number
from cfjax.records import Explanation
from cfjax.types import Array, Params, PRNGKey

ScoreFn = Callable[[Params, Array], Array]


def gumbel_softmax_st(key: PRNGKey, logits: Array, temperature: float = 1.0,
                      eps: float = 1e-10) -> Array:
  """Straight-through Gumbel-softmax sample over the last axis (Jang et al.; Wen et al., sec. 3.2.2).

  y_soft = softmax((logits + G) / tau), G = -log(eps - log(U + eps)), U ~ Uniform[0, 1);
  returns one_hot(argmax y_soft) in the forward pass (exactly 0/1) with the gradient of y_soft
  in the backward pass (the straight-through estimator).

  Args:
    key: PRNG key.
    logits: float[..., C].
    temperature: tau > 0 (1 in LCER).
    eps: numerical guard of the reference implementation.

  Returns:
    float[..., C] hard one-hot samples carrying the soft gradient.
  """
  u = jax.random.uniform(key, logits.shape, logits.dtype)
  gumbel = -jnp.log(eps - jnp.log(u + eps))
  soft = jax.nn.softmax((logits + gumbel) / temperature, axis=-1)
  hard = jax.nn.one_hot(jnp.argmax(soft, axis=-1), logits.shape[-1], dtype=soft.dtype)
  return _straight_through(hard, soft)


@jax.custom_jvp
def _straight_through(hard: Array, soft: Array) -> Array:
  """Forward: exactly `hard`; derivative: that of `soft` (hard + soft - sg(soft) without the
  rounding error of the sum)."""
  return hard


@_straight_through.defjvp
def _straight_through_jvp(primals, tangents):
  return primals[0], tangents[1]


@dataclasses.dataclass(frozen=True)
class LcerResult:
  """LCER's output for P pairs (leading axis P; N = padded history length).

  Attributes:
    removed: bool[P, N] the counterfactual set C of each pair, as positions of its history
      (all False when not found).
    found: bool[P] eq. (9) held at the lowest-loss step and C is non-empty.
    best_loss: float[P] the lowest eq. (12) loss.
    best_score: float[P] g_i(x_u^cf) at that step.
    best_step: int32[P] 0-based step of the lowest loss.
    importance: float[P, N] t_u = softmax(logits)[..., remove] after the last step (0 on pads).
  """

  removed: Array
  found: Array
  best_loss: Array
  best_score: Array
  best_step: Array
  importance: Array


jax.tree_util.register_dataclass(
    LcerResult, data_fields=[f.name for f in dataclasses.fields(LcerResult)], meta_fields=[])


def dense_item_score(score_fn: ScoreFn, num_items: int) -> Callable:
  """Turns a dense scorer into the compact one LCER calls: (params, hist[N], values[N], item).

  x = zeros(I).at[hist].add(values); returns score_fn(params, x[None])[0, item]. Gradients
  flow to `values`.
  """
  def score(params, hist, values, item):
    x = jnp.zeros((num_items,), values.dtype).at[hist].add(values)
    return score_fn(params, x[None])[0, item]
  return score


@functools.lru_cache(maxsize=32)
def make_lcer(compact_score_fn: Callable, *, lam: float, alpha: float, steps: int = 3000,
              learning_rate: float = 1e-3, temperature: float = 1.0) -> Callable:
  """Builds LCER's batched explainer (Algorithm 1 for many pairs at once).

  Each pair is given as its user's history, padded: hist int[N] item ids and mask bool[N]
  (False on pads). The logits live on the history only (eq. 7's e_u is zero elsewhere anyway,
  Wen et al., footnote 4), so the cost scales with N, not with the number of items.

  Args:
    compact_score_fn: (params, hist[N], values[N], item) -> g_item(x) where x is the input row
      with x[hist[n]] = values[n] (pads carry value 0); e.g. `MultVAE.history_item_score`, or
      `dense_item_score(score_fn, I)` for any dense scorer.
    lam: lambda of eq. (12), the weight of the length term (ML-100K 0.01, ML-1M 0.02).
    alpha: alpha of eq. (11), the hinge margin (ML-100K 0.1, ML-1M 0.04).
    steps: Adam steps per pair (3000).
    learning_rate: Adam step size (1e-3).
    temperature: Gumbel-softmax temperature (1).

  Returns:
    explain(params, hist int[P, N], mask bool[P, N], items int[P], margins float[P], keys
    key[P]) -> `LcerResult`, jitted. `margins` are g_{K+1}(x_u^f); `keys` one PRNG key per pair
    (`pair_keys`). A pair's result depends only on its own inputs, its key and N.

  Raises:
    ValueError: on non-positive steps, learning rate or temperature, or negative lam/alpha.
  """
  if steps < 1 or learning_rate <= 0 or temperature <= 0:
    raise ValueError(f"steps={steps}, learning_rate={learning_rate}, temperature={temperature} "
                     "must be positive")
  if lam < 0 or alpha < 0:
    raise ValueError(f"lam={lam} and alpha={alpha} must be >= 0 (paper: 0.01 and 0.1)")
  init, step, finish = _pair_functions(compact_score_fn, lam=lam, alpha=alpha,
                                       learning_rate=learning_rate, temperature=temperature)

  def one_pair(params, hist, mask, item, margin, key):
    state = init(mask, key)
    state, _ = jax.lax.scan(lambda st, t: (step(params, hist, mask, item, margin, st, t), None),
                            state, jnp.arange(steps, dtype=jnp.int32))
    return finish(mask, margin, state)

  @jax.jit
  def explain(params, hist, mask, items, margins, keys):
    chex.assert_rank([hist, mask, items, margins], [2, 2, 1, 1])
    chex.assert_equal_shape([hist, mask])
    chex.assert_equal_shape_prefix([hist, items, margins], 1)
    return jax.vmap(one_pair, in_axes=(None, 0, 0, 0, 0, 0))(
        params, hist, mask, items, margins, keys)

  return explain


def _pair_functions(compact_score_fn: Callable, *, lam: float, alpha: float,
                    learning_rate: float, temperature: float):
  """(init, step, finish) of Algorithm 1 for ONE pair; `make_lcer` scans `step`, and
  `make_lcer_stepper` exposes it so a loop can drive the optimiser one step per call.

  init(mask, key) -> state; step(params, hist, mask, item, margin, state, t) -> state (one Adam
  step on eq. (12) with the Gumbel key fold_in(loop_key, t), tracking the lowest-loss sample);
  finish(mask, margin, state) -> `LcerResult`.
  """
  optimizer = optax.adam(learning_rate)

  def init(mask, key):
    x = mask.astype(jnp.float32)
    init_key, loop_key = jax.random.split(key)
    logits = jax.random.uniform(init_key, x.shape + (2,))  # column 0: remove, 1: keep
    best0 = (jnp.float32(jnp.inf), jnp.float32(jnp.inf), jnp.zeros(x.shape, bool), jnp.int32(0))
    return logits, optimizer.init(logits), best0, loop_key

  def step(params, hist, mask, item, margin, state, t):
    logits, opt_state, best, loop_key = state
    x = mask.astype(jnp.float32)

    def loss_fn(logits, key):
      sample = gumbel_softmax_st(key, logits, temperature)
      removed = sample[..., 0] * x  # e_u acts on the interacted items only
      score = compact_score_fn(params, hist, sample[..., 1] * x, item)  # eq. (8)
      loss = jax.nn.relu(alpha + score - margin) + lam * jnp.sum(removed)  # eq. (12)
      return loss, (score, removed > 0.5)

    (loss, (score, removed)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        logits, jax.random.fold_in(loop_key, t))
    better = loss < best[0]
    best = jax.tree.map(lambda new, old: jnp.where(better, new, old),
                        (loss, score, removed, jnp.asarray(t, jnp.int32)), best)
    updates, opt_state = optimizer.update(grads, opt_state, logits)
    return optax.apply_updates(logits, updates), opt_state, best, loop_key

  def finish(mask, margin, state):
    logits, _, best, _ = state
    x = mask.astype(jnp.float32)
    loss, score, removed, best_step = best
    found = (score < margin) & jnp.any(removed)  # eq. (9), Algorithm 1 lines 9-13
    importance = jax.nn.softmax(logits, axis=-1)[..., 0] * x
    return LcerResult(removed=removed & found, found=found, best_loss=loss, best_score=score,
                      best_step=best_step, importance=importance)

  return init, step, finish


def make_lcer_stepper(compact_score_fn: Callable, *, lam: float, alpha: float,
                      learning_rate: float = 1e-3, temperature: float = 1.0):
  """LCER for ONE pair driven step by step from Python (how the reference code runs it: one
  forward/backward/optimiser call per step). Same arithmetic as `make_lcer`.

  Returns:
    (init, step, finish), each jitted: state = init(mask[N], key);
    state = step(params, hist[N], mask[N], item, margin, state, t) for t = 0..steps-1;
    finish(mask, margin, state) -> `LcerResult` of the pair (no leading axis).
  """
  init, step, finish = _pair_functions(compact_score_fn, lam=lam, alpha=alpha,
                                       learning_rate=learning_rate, temperature=temperature)
  return jax.jit(init), jax.jit(step), jax.jit(finish)


def pair_keys(key: PRNGKey, num_pairs: int, offset: int = 0) -> Array:
  """One key per pair, fold_in(key, offset + p): independent of how pairs are chunked."""
  return jax.vmap(lambda p: jax.random.fold_in(key, p))(jnp.arange(num_pairs) + offset)


def pad_histories(x_rows, multiple: int = 8) -> tuple[np.ndarray, np.ndarray]:
  """Host: the interacted items of each row, padded to one length (a multiple of `multiple`).

  Args:
    x_rows: [P, I] binary rows.
    multiple: the padded length N is rounded up to a multiple of this.

  Returns:
    (hist int32[P, N], mask bool[P, N]); items in increasing order, pads are item 0 / False.

  Raises:
    ValueError: if a row has no interacted item.
  """
  x_rows = np.asarray(x_rows) > 0
  lengths = x_rows.sum(axis=1)
  if len(lengths) and lengths.min() == 0:
    raise ValueError(f"row {int(np.argmin(lengths))} has no interacted item; drop empty users")
  n = max(multiple, -(-int(lengths.max(initial=1)) // multiple) * multiple)
  hist = np.zeros((len(x_rows), n), np.int32)
  mask = np.arange(n)[None, :] < lengths[:, None]
  for p, row in enumerate(x_rows):
    hist[p, :lengths[p]] = np.flatnonzero(row)
  return hist, mask


def explain_in_chunks(explain: Callable, params: Params, hist, mask, items, margins, keys, *,
                      targets_per_batch: int | None = None) -> LcerResult:
  """Runs `explain` over chunks of pairs (last chunk padded, so one compile) and concatenates.

  Args:
    explain: from `make_lcer`.
    params: recommender params.
    hist: as `explain`, with P pairs.
    mask: as `explain`, with P pairs.
    items: as `explain`, with P pairs.
    margins: as `explain`, with P pairs.
    keys: as `explain`, with P pairs.
    targets_per_batch: pairs per compiled call (None: all at once).

  Returns:
    An `LcerResult` of host numpy arrays with P rows.
  """
  hist, mask = np.asarray(hist), np.asarray(mask)
  items, margins = np.asarray(items), np.asarray(margins, np.float32)
  total = len(items)
  if total == 0:
    raise ValueError("no pairs to explain; pass at least one (user, item) pair")
  size = total if targets_per_batch is None else max(1, min(int(targets_per_batch), total))
  parts = []
  for start in range(0, total, size):
    index = np.minimum(np.arange(start, start + size), total - 1)
    out = explain(params, hist[index], mask[index], items[index], margins[index], keys[index])
    n = min(size, total - start)
    parts.append(jax.tree.map(lambda a: np.asarray(a)[:n], out))
  return jax.tree.map(lambda *a: np.concatenate(a), *parts)


def removed_items(result: LcerResult, hist) -> list[tuple[int, ...]]:
  """Host: the counterfactual set of each pair as item ids (empty when not found)."""
  hist = np.asarray(hist)
  return [tuple(int(i) for i in hist[p][np.asarray(result.removed[p])])
          for p in range(len(hist))]


def top_k_pairs(score_fn: ScoreFn, params: Params, x_f, k: int) -> dict:
  """The (user, recommended item) pairs of every row and the eq. (9) thresholds.

  Items of the user's input are excluded; ties go to the lower item index (cfjax.rank).

  Args:
    score_fn: the recommender g.
    params: its params.
    x_f: float[U, I] factual rows.
    k: list length K.

  Returns:
    {"rows": int[U*K] row of x_f, "items": int[U*K], "positions": int[U*K] 1-based,
      "margins": float[U*K] g_{K+1}(x_u^f) of the row, "top": int[U, K+1]} (numpy).
  """
  x_f = jnp.asarray(x_f, jnp.float32)
  scores = score_fn(params, x_f)
  masked = jnp.where(x_f > 0, -jnp.inf, scores)
  values, top = jax.lax.top_k(masked, k + 1)
  top, values = np.asarray(top), np.asarray(values)
  users = x_f.shape[0]
  return {"rows": np.repeat(np.arange(users), k), "items": top[:, :k].reshape(-1),
          "positions": np.tile(np.arange(1, k + 1), users),
          "margins": np.repeat(values[:, k], k), "top": top}


def dense_rows(train: Interactions, users) -> np.ndarray:
  """float32[B, I]: each user's input row (their training items, valued by rating)."""
  rows = np.zeros((len(users), train.num_items), np.float32)
  for b, user in enumerate(users):
    history = train.history_rows(int(user))
    rows[b, train.item[history]] = train.rating[history]
  return rows


@register("lcer")
@dataclasses.dataclass(frozen=True)
class Lcer:
  """LCER (Wen et al., Algorithm 1) for every target at once, on a model with `score_rows`.

  A target (u, i) must be in u's top-`k`; the threshold of eq. (9) is the score of u's
  (k+1)-th item. Each target's Gumbel noise comes from fold_in(key(seed), its position in the
  batch), so a batch of targets is reproducible as a whole. Uses the model's
  `history_item_score` hook when it has one (cost scales with the history), else the dense
  `score_rows`.

  Attributes:
    k: the list length K the targets come from.
    lam: lambda of eq. (12) (ML-100K 0.01, ML-1M 0.02).
    alpha: alpha of eq. (11) (ML-100K 0.1, ML-1M 0.04).
    steps: Adam steps per target (3000).
    seed: the key of the Gumbel noise.
    targets_per_batch: targets per compiled call (None: all at once).
    name: the method name.
  """

  k: int = 5
  lam: float = 0.01
  alpha: float = 0.1
  steps: int = 3000
  seed: int = 0
  targets_per_batch: int | None = None
  name: str = "lcer"
  requires = ("score_rows",)
  cost: ClassVar[str] = "fast"

  def __post_init__(self):
    check_int(self.k, "lcer: k", minimum=1)
    check_int(self.steps, "lcer: steps", minimum=1)
    check_number(self.lam, "lcer: lam", minimum=0)
    check_number(self.alpha, "lcer: alpha", minimum=0)

  def optimised(self, ctx: ExplainContext,
                targets: Targets) -> tuple[LcerResult, np.ndarray, np.ndarray, float]:
    """Algorithm 1 for every target, cached on `ctx` by the targets (in batch order: the
    Gumbel keys follow the positions) and the settings, so `explain` and `attributions`
    share one optimisation.

    Returns:
      (the `LcerResult`, hist int32[B, N], mask bool[B, N] as `pad_histories`, seconds per
      target of the optimisation).
    """
    ctx.check_targets(targets)
    key = ("lcer", targets.users.tobytes(), targets.items.tobytes(), int(self.k),
           float(self.lam), float(self.alpha), int(self.steps), int(self.seed),
           self.targets_per_batch)

    def compute():
      start = time.perf_counter()
      model = ctx.model
      top_items, top_scores = ctx.top_k(targets.users, int(self.k) + 1)
      if not (top_items[:, :int(self.k)] == targets.items[:, None]).any(axis=1).all():
        raise ValueError(f"lcer explains items of a user's top-{self.k}; pass top-{self.k} "
                         "targets or raise k")
      compact = (model.history_item_score if model.has("history_item_score") else
                 dense_item_score(model.require("score_rows", "lcer"), model.num_items))
      explain = make_lcer(compact, lam=float(self.lam), alpha=float(self.alpha),
                          steps=int(self.steps))
      hist, mask = pad_histories(dense_rows(ctx.train, targets.users))
      result = explain_in_chunks(explain, ctx.params, hist, mask, targets.items,
                                 top_scores[:, int(self.k)],
                                 pair_keys(jax.random.key(int(self.seed)), len(targets)),
                                 targets_per_batch=self.targets_per_batch)
      return result, hist, mask, (time.perf_counter() - start) / len(targets)

    return ctx.cached(key, compute)

  def attributions(self, ctx: ExplainContext, targets: Targets) -> list[dict[int, float]]:
    """[B] {history item: t_u}, the learned probability of removing it (eq. 7's Bernoulli
    parameter after the last step), from the same optimisation as `explain`.

    A proxy of the margin decrease (`cfjax.explain.base`) in [0, 1]: eq. (12) pushes t_u up
    for items whose removal lowers g_i below the threshold and down for all (lambda).
    """
    result, hist, mask, _ = self.optimised(ctx, targets)
    return [{int(hist[b, n]): float(result.importance[b, n]) for n in np.flatnonzero(mask[b])}
            for b in range(len(targets))]

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records; empty deleted_items when eq. (9) did not hold (not found). `explain`
    and `attributions` on one context share one optimisation (`optimised`)."""
    result, hist, _, seconds = self.optimised(ctx, targets)
    sets = removed_items(result, hist)
    return [Explanation(user, item, sets[b], method=self.name,
                        extra={"k": int(self.k), "found": bool(result.found[b]),
                               "best_loss": float(result.best_loss[b]),
                               "best_step": int(result.best_step[b]), "seconds": seconds})
            for b, (user, item) in enumerate(targets)]
