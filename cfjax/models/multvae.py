"""Mult-VAE (Liang et al., WWW 2018), the recommender LCER explains (Wen et al., eq. 6).

x_u ~ Mult(N_u, pi(z_u)), z_u ~ N(0, I_d), with an MLP encoder q_phi(z_u | x_u) and decoder
p_theta(x_u | z_u) (Wen et al., section 3.2.1; architecture I-600-200-600-I, tanh). Training
maximises the annealed ELBO (Wen et al., eq. 4; Liang et al., eq. 6 with beta):

  L_beta(x_u) = E_q[log p(x_u | z_u)] - beta * KL(q(z_u | x_u) || p(z_u)),

with the input L2-normalised and dropped out (keep 0.5) during training, and beta annealed
linearly to a cap (0.2) over `total_anneal_steps` updates. The KL weight is NOT hidden state:
`loss` takes it as an argument and `anneal_weight(step, ...)` computes it from the update count.

Mult-VAE is amortised: it has no per-user parameters, so it does not fit the `Recommender`
contract (row_losses over (user, item) rows). It gets its own small functional API instead:
`make_multvae` returns pure `init`, `apply`, `loss` and `score`; `train_multvae` trains with a
`lax.scan` over epochs and keeps the epoch with the best validation NDCG@100. Because the model
is amortised, the recommendation of a user is a pure function of the user's input row, so
removing items from that row IS the counterfactual (no retraining is involved).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from cfjax.models.domains import check_domains
from cfjax.models.base import Recommender
from cfjax.types import Array, Params, PRNGKey


@dataclasses.dataclass(frozen=True)
class MultVAE:
  """Mult-VAE as pure functions. Static: hashable by identity, never traced.

  Attributes:
    num_items: I.
    init: key -> params.
    apply: (params, x[B, I], key | None, train: bool) -> (logits[B, I], kl[B]); with
      train=False the mean latent is used and there is no dropout (key may be None).
    loss: (params, x[B, I], key, anneal, weights[B] | None) -> scalar negative annealed ELBO
      (Liang et al., eq. 6), averaged over the rows with weight 1.
    score: (params, x[B, I]) -> logits[B, I], the deterministic recommendation scores g(x)
      (Wen et al., section 3.1.1): mean latent, no dropout.
    item_score: (params, x[B, I], items int[B]) -> logits[B], g_i(x) of one item per row,
      equal to score(...)[b, items[b]] but only computing that item's output unit.
    history_item_score: (params, hist int[N], values[N], item) -> g_item(x) for the row x with
      x[hist[n]] = values[n] (distinct hist entries, pads with value 0): the encoder only reads
      the N rows of its first weight matrix, so the cost scales with N, not I (LCER's scorer).
    optimizer: the optax optimizer (Adam).
    hparams: the hyperparameters, for config files.
  """

  num_items: int
  init: Callable[[PRNGKey], Params]
  apply: Callable
  loss: Callable
  score: Callable[[Params, Array], Array]
  item_score: Callable[[Params, Array, Array], Array]
  history_item_score: Callable
  optimizer: optax.GradientTransformation
  hparams: dict = dataclasses.field(default_factory=dict)

  __hash__ = object.__hash__
  __eq__ = object.__eq__


def l2_normalised(x: Array) -> Array:
  """x / max(||x||_2, 1e-12) over the last axis, as torch's F.normalize (Liang et al.'s input
  normalisation), with a gradient that stays finite at x = 0: an empty input row (LCER's mask
  removing every item) gives the prior's scores and a zero gradient, not NaN. [..., I]."""
  squared = jnp.sum(x * x, axis=-1, keepdims=True)
  return x * jax.lax.rsqrt(jnp.maximum(squared, 1e-24))


def anneal_weight(step, *, total_anneal_steps: int = 200_000, anneal_cap: float = 0.2):
  """KL weight beta after `step` updates: min(cap, step / total_anneal_steps) (Liang et al., 2.2.2).

  Args:
    step: the number of updates done so far (int or int array).
    total_anneal_steps: updates over which beta grows linearly from 0 to 1 (before the cap).
    anneal_cap: the largest beta.

  Returns:
    float32 beta.
  """
  if total_anneal_steps <= 0:
    return jnp.float32(anneal_cap)
  return jnp.minimum(jnp.float32(anneal_cap),
                     jnp.asarray(step, jnp.float32) / float(total_anneal_steps))


def _glorot(key, fan_in, fan_out):
  limit = math.sqrt(6.0 / (fan_in + fan_out))
  return jax.random.uniform(key, (fan_in, fan_out), jnp.float32, -limit, limit)


def make_multvae(num_items: int, *, hidden: int = 600, latent: int = 200,
                 dropout_keep: float = 0.5, learning_rate: float = 1e-3,
                 weight_decay: float = 0.0) -> MultVAE:
  """Builds Mult-VAE I-hidden-latent-hidden-I with tanh (Wen et al., eq. 6; Liang et al.).

  Weights are Glorot-uniform and biases N(0, 0.001^2) truncated, as in the reference notebook.

  Args:
    num_items: I, the width of the input and output.
    hidden: width of the hidden layers (600).
    latent: latent dimension d (200).
    dropout_keep: keep probability of the input dropout in training (0.5).
    learning_rate: Adam step size (1e-3).
    weight_decay: lambda of the notebook's L2 term lambda * sum(W^2) / 2 on weights, added twice
      as in the notebook (0.0 there and here).

  Returns:
    A `MultVAE`.

  Raises:
    ValueError: on a non-positive size or a keep probability outside (0, 1].
  """
  check_domains("multvae", hidden=hidden, latent=latent, dropout_keep=dropout_keep,
                learning_rate=learning_rate, weight_decay=weight_decay)
  if num_items < 1 or hidden < 1 or latent < 1:
    raise ValueError(f"num_items={num_items}, hidden={hidden}, latent={latent} must be >= 1")
  if not 0.0 < dropout_keep <= 1.0:
    raise ValueError(f"dropout_keep={dropout_keep} must lie in (0, 1]; use 0.5 as the paper")
  dims = [("q0", num_items, hidden), ("q1", hidden, 2 * latent),
          ("p0", latent, hidden), ("p1", hidden, num_items)]

  def init(key: PRNGKey) -> Params:
    params = {}
    for k, (name, fan_in, fan_out) in zip(jax.random.split(key, len(dims)), dims):
      kw, kb = jax.random.split(k)
      params[name] = {"w": _glorot(kw, fan_in, fan_out),
                      "b": 0.001 * jax.random.truncated_normal(kb, -2.0, 2.0, (fan_out,))}
    return params

  def dense(p, h):
    return h @ p["w"] + p["b"]

  def hidden_state(params: Params, x: Array, key: PRNGKey | None, train: bool):
    h = l2_normalised(x)
    if train and dropout_keep < 1.0:
      kd, key = jax.random.split(key)
      mask = jax.random.bernoulli(kd, dropout_keep, h.shape)
      h = jnp.where(mask, h / dropout_keep, 0.0)
    h = jnp.tanh(dense(params["q0"], h))
    h = dense(params["q1"], h)
    mu, logvar = h[..., :latent], h[..., latent:]
    std = jnp.exp(0.5 * logvar)
    kl = jnp.sum(0.5 * (-logvar + jnp.exp(logvar) + mu ** 2 - 1.0), axis=-1)
    z = mu + std * jax.random.normal(key, mu.shape) if train else mu
    return jnp.tanh(dense(params["p0"], z)), kl

  def apply(params: Params, x: Array, key: PRNGKey | None, train: bool):
    h, kl = hidden_state(params, x, key, train)
    return dense(params["p1"], h), kl

  def loss(params: Params, x: Array, key: PRNGKey, anneal, weights: Array | None = None):
    chex.assert_rank(x, 2)
    logits, kl = apply(params, x, key, True)
    neg_ll = -jnp.sum(jax.nn.log_softmax(logits, axis=-1) * x, axis=-1)
    w = jnp.ones(x.shape[0]) if weights is None else weights
    per_row = neg_ll + anneal * kl
    value = jnp.sum(w * per_row) / jnp.maximum(jnp.sum(w), 1.0)
    if weight_decay:
      value += 2.0 * weight_decay * 0.5 * sum(jnp.sum(p["w"] ** 2) for p in params.values())
    return value

  def score(params: Params, x: Array) -> Array:
    chex.assert_axis_dimension(x, -1, num_items)
    return apply(params, x, None, False)[0]

  def item_score(params: Params, x: Array, items: Array) -> Array:
    chex.assert_axis_dimension(x, -1, num_items)
    h, _ = hidden_state(params, x, None, False)
    w = jnp.take(params["p1"]["w"], items, axis=1).T  # [B, hidden]
    return jnp.sum(h * w, axis=-1) + params["p1"]["b"][items]

  def history_item_score(params: Params, hist: Array, values: Array, item: Array) -> Array:
    h = l2_normalised(values)
    h = jnp.tanh(h @ jnp.take(params["q0"]["w"], hist, axis=0) + params["q0"]["b"])
    mu = dense(params["q1"], h)[:latent]
    h = jnp.tanh(dense(params["p0"], mu))
    return h @ params["p1"]["w"][:, item] + params["p1"]["b"][item]

  return MultVAE(num_items=num_items, init=init, apply=apply, loss=loss, score=score,
                 item_score=item_score, history_item_score=history_item_score,
                 optimizer=optax.adam(learning_rate),
                 hparams={"hidden": hidden, "latent": latent, "dropout_keep": dropout_keep,
                          "learning_rate": learning_rate, "weight_decay": weight_decay})


def ndcg_at_k(scores: Array, seen: Array, heldout: Array, k: int = 100) -> Array:
  """Per-user truncated NDCG@k of binary held-out items (Liang et al., section 4.2).

  DCG@k = sum_{r<k} 1[item at rank r held out] / log2(r + 2); IDCG over min(k, #held out).

  Args:
    scores: float[B, I].
    seen: bool[B, I] fold-in items, excluded from the ranking.
    heldout: float or bool [B, I] held-out items.
    k: cut-off (static).

  Returns:
    float32[B]; users without held-out items get NaN.
  """
  k = min(int(k), scores.shape[-1])
  masked = jnp.where(seen, -jnp.inf, scores)
  _, top = jax.lax.top_k(masked, k)
  hits = jnp.take_along_axis(heldout > 0, top, axis=-1).astype(jnp.float32)
  discount = 1.0 / jnp.log2(jnp.arange(2, k + 2, dtype=jnp.float32))
  dcg = jnp.sum(hits * discount, axis=-1)
  n = jnp.minimum(jnp.sum(heldout > 0, axis=-1), k)
  idcg = jnp.cumsum(discount)[jnp.maximum(n - 1, 0)]
  return jnp.where(n > 0, dcg / idcg, jnp.nan)


@dataclasses.dataclass(frozen=True)
class TrainResult:
  """What `train_multvae` returns.

  Attributes:
    params: parameters of the best epoch (by validation NDCG@100).
    best_epoch: 0-based index of that epoch (-1, with the initial params, if no validation
      user has held-out items).
    best_ndcg: its validation NDCG@100.
    val_ndcg: float[epochs] validation NDCG@100 after every epoch.
    train_loss: float[epochs] mean training loss of every epoch.
    updates: total number of Adam updates (the final anneal step).
  """

  params: Params
  best_epoch: int
  best_ndcg: float
  val_ndcg: np.ndarray
  train_loss: np.ndarray
  updates: int


def _checked_rows(model: MultVAE, train, val_tr, val_te, epochs: int, batch_size: int):
  """train, val_tr, val_te as float32 arrays, after one-line errors on their shapes and on
  non-positive epochs / batch size."""
  train, val_tr, val_te = (jnp.asarray(a, jnp.float32) for a in (train, val_tr, val_te))
  chex.assert_rank([train, val_tr, val_te], 2)
  if train.shape[1] != model.num_items or val_tr.shape != val_te.shape or \
      val_tr.shape[1] != model.num_items:
    raise ValueError(f"train {train.shape}, val_tr {val_tr.shape}, val_te {val_te.shape} must "
                     f"all have {model.num_items} columns and val_tr/val_te equal shapes")
  if epochs < 1 or batch_size < 1:
    raise ValueError(f"epochs={epochs} and batch_size={batch_size} must be >= 1")
  return train, val_tr, val_te


def train_multvae(model: MultVAE, train: Array, val_tr: Array, val_te: Array, *, key: PRNGKey,
                  epochs: int = 200, batch_size: int = 500, total_anneal_steps: int = 200_000,
                  anneal_cap: float = 0.2, anneal_step0: int = 0, ndcg_k: int = 100,
                  params: Params | None = None) -> TrainResult:
  """Trains Mult-VAE with Adam, one `lax.scan` over epochs, keeping the best validation epoch.

  Each epoch shuffles the training users and takes ceil(U / batch_size) updates (the last batch
  is padded with weight-0 rows, so it equals a smaller batch). The KL weight of update n is
  `anneal_weight(anneal_step0 + n)`. After each epoch the validation users' fold-in rows are
  scored with the mean latent and NDCG@`ndcg_k` is computed on their held-out rows; the params
  of the best epoch are kept (Liang et al., section 4.3).

  Args:
    model: from `make_multvae`.
    train: float32[U, I] binary rows of the training users.
    val_tr: float32[V, I] fold-in rows of the validation users.
    val_te: float32[V, I] held-out rows of the validation users.
    key: PRNG key for init, shuffling, dropout and the latent noise.
    epochs: number of epochs (200).
    batch_size: users per update (500).
    total_anneal_steps: updates for beta to reach 1 before the cap (200,000).
    anneal_cap: the cap of beta (0.2).
    anneal_step0: the update count to start the anneal from (to resume training).
    ndcg_k: the validation cut-off (100).
    params: initial params (default: `model.init`).

  Returns:
    A `TrainResult`.

  Raises:
    ValueError: on mismatched shapes or non-positive epochs/batch size.
  """
  train, val_tr, val_te = _checked_rows(model, train, val_tr, val_te, epochs, batch_size)
  num_users = train.shape[0]
  batches = -(-num_users // batch_size)
  padded = batches * batch_size
  init_key, loop_key = jax.random.split(key)
  params = model.init(init_key) if params is None else params
  opt_state = model.optimizer.init(params)
  val_seen = val_tr > 0
  grad_fn = jax.value_and_grad(model.loss)

  def one_update(carry, inputs):
    params, opt_state = carry
    rows, key, step = inputs
    x = train[jnp.minimum(rows, num_users - 1)]
    w = (rows < num_users).astype(jnp.float32)
    beta = anneal_weight(step, total_anneal_steps=total_anneal_steps, anneal_cap=anneal_cap)
    value, grads = grad_fn(params, x, key, beta, w)
    updates, opt_state = model.optimizer.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), value

  def one_epoch(carry, epoch):
    params, opt_state, best_params, best_ndcg = carry
    k_perm, k_steps = jax.random.split(jax.random.fold_in(loop_key, epoch))
    order = jnp.concatenate([jax.random.permutation(k_perm, num_users),
                             jnp.full((padded - num_users,), num_users, jnp.int32)])
    steps = anneal_step0 + epoch * batches + jnp.arange(batches)
    (params, opt_state), losses = jax.lax.scan(
        one_update, (params, opt_state),
        (order.reshape(batches, batch_size), jax.random.split(k_steps, batches), steps))
    ndcg = jnp.nanmean(ndcg_at_k(model.score(params, val_tr), val_seen, val_te, ndcg_k))
    better = ndcg > best_ndcg
    best_params = jax.tree.map(lambda new, old: jnp.where(better, new, old), params, best_params)
    return (params, opt_state, best_params, jnp.maximum(ndcg, best_ndcg)), (ndcg, jnp.mean(losses))

  @jax.jit
  def run(params, opt_state):
    carry = (params, opt_state, params, jnp.float32(-jnp.inf))
    (_, _, best_params, best), (ndcgs, losses) = jax.lax.scan(one_epoch, carry, jnp.arange(epochs))
    return best_params, best, ndcgs, losses

  best_params, best, ndcgs, losses = run(params, opt_state)
  ndcgs = np.asarray(ndcgs)
  has_ndcg = bool(np.isfinite(ndcgs).any())  # else no validation user has held-out items
  return TrainResult(params=best_params if has_ndcg else params,
                     best_epoch=int(np.nanargmax(ndcgs)) if has_ndcg else -1,
                     best_ndcg=float(best), val_ndcg=ndcgs, train_loss=np.asarray(losses),
                     updates=anneal_step0 + epochs * batches)


def fold_in_recommender(model: MultVAE, rows, *, name: str = "multvae") -> Recommender:
  """Mult-VAE as a `Recommender` over fixed input rows (e.g. the test users' fold-in rows).

  User u of the view is row u of `rows` [U, I]; its scores are g(x_u) with the mean latent
  (`MultVAE.score`). The view has no `row_losses` (an amortised model is not trained on
  per-user rows, so the engine cannot retrain it); instead it provides the `score_rows` and
  `history_item_score` hooks, with which input-editing explainers (LCER, KaffesCE, the
  leave-one-out FIA/ACCENT of Wen et al.'s footnote 9) remove items from x_u and re-score:
  for an amortised model that IS the counterfactual.

  Args:
    model: the Mult-VAE.
    rows: float[U, I] binary input rows.
    name: the model name.

  Returns:
    The `Recommender` view.
  """
  inputs = jnp.asarray(rows, jnp.float32)
  chex.assert_axis_dimension(inputs, 1, model.num_items)

  def predict(params, users, items):
    return model.item_score(params, inputs[users], items)

  def scores(params, users):
    return model.score(params, inputs[users])

  return Recommender(name=name, num_users=int(inputs.shape[0]), num_items=model.num_items,
                     init=model.init, predict=predict, scores=scores, row_losses=None,
                     optimizer=model.optimizer, hparams=dict(model.hparams),
                     score_rows=model.score, history_item_score=model.history_item_score)
