"""Surrogate model families over feature matrices (Yao et al., sec. 5.2, eq. 7).

Pure JAX fitting routines; each returns a params pytree and has a matching `predict_*`:

* `lasso_cv`: LASSO with k-fold CV over a regularisation grid. The squared loss only needs
  sufficient statistics (X'X, X'y, y'y), so every (fold, alpha) pair is one FISTA run over a
  [P, P] Gram matrix, vmapped over folds and the grid at once: fitting cost is independent of
  the number of simulated rows once the statistics are summed.
* `logistic_cv`: multinomial logistic regression over the classes {-1, 0, 1} (eq. 4) with
  an L2 penalty chosen by k-fold CV (validation log-loss), vmapped over folds and the grid.
* `mlp_fit`: the paper's "simple 3-layer MLP" (two ReLU hidden layers and a linear output),
  for regression (MSE) or classification (cross-entropy), trained with Adam on minibatches.
* `deepsets_fit`: the ablation representation of D_u (DeepSets: sum of a learned per-item
  map phi), with the same linear head as the LASSO surrogate, trained with Adam.

Features are standardised by the caller (`cfjax.explain.surrogate`).
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

CLASSES = (-1, 0, 1)


# ----------------------------------------------------------------------------- LASSO (reg)


def _soft_threshold(x, threshold):
  return jnp.sign(x) * jnp.maximum(jnp.abs(x) - threshold, 0.0)


def fista_lasso(gram, xty, count, alpha, penalised, iters: int):
  """min_w (1/2n)|y - Xw|^2 + alpha * |w * penalised|_1 from statistics X'X, X'y (FISTA).

  Args:
    gram: [P, P] X'X; xty: [P] X'y; count: n rows; alpha: scalar.
    penalised: [P] 1.0 for penalised coordinates (0.0 for the intercept column).
    iters: FISTA iterations (static).

  Returns:
    [P] weights.
  """
  hessian = gram / count
  step = 1.0 / jnp.maximum(jnp.linalg.eigvalsh(hessian)[-1], 1e-12)
  target = xty / count

  def body(_, carry):
    w, z, t = carry
    w_next = _soft_threshold(z - step * (hessian @ z - target), step * alpha * penalised)
    t_next = (1.0 + jnp.sqrt(1.0 + 4.0 * t * t)) / 2.0
    z_next = w_next + ((t - 1.0) / t_next) * (w_next - w)
    return w_next, z_next, t_next

  zeros = jnp.zeros_like(xty)
  w, _, _ = jax.lax.fori_loop(0, iters, body, (zeros, zeros, jnp.ones(())))
  return w


def _quadratic_mse(w, gram, xty, yty, count):
  """Mean squared error of weights w from statistics: (w'Gw - 2w'b + c) / n."""
  return (w @ gram @ w - 2.0 * w @ xty + yty) / jnp.maximum(count, 1.0)


@functools.partial(jax.jit, static_argnums=(5,))
def _lasso_grid(gram_f, xty_f, yty_f, count_f, alphas, iters, penalised):
  """CV MSE [F, A] over folds F (statistics per fold) and alphas A, all vmapped."""
  gram, xty, count = gram_f.sum(0), xty_f.sum(0), count_f.sum(0)  # yty_f: unused here

  def one(fold, alpha):
    w = fista_lasso(gram - gram_f[fold], xty - xty_f[fold], count - count_f[fold], alpha,
                    penalised, iters)
    return _quadratic_mse(w, gram_f[fold], xty_f[fold], yty_f[fold], count_f[fold])

  folds = jnp.arange(gram_f.shape[0])
  return jax.vmap(lambda f: jax.vmap(lambda a: one(f, a))(alphas))(folds)


@functools.partial(jax.jit, static_argnums=(4,))
def _lasso_full(gram, xty, count, alpha, iters, penalised):
  return fista_lasso(gram, xty, count, alpha, penalised, iters)


def fold_statistics(x: np.ndarray, y: np.ndarray, folds: np.ndarray, num_folds: int):
  """Per-fold (X'X [F,P,P], X'y [F,P], y'y [F], n [F]) with a leading intercept column."""
  x = np.concatenate([np.ones((len(x), 1), np.float64), np.asarray(x, np.float64)], axis=1)
  y = np.asarray(y, np.float64)
  stats = [(x[folds == f].T @ x[folds == f], x[folds == f].T @ y[folds == f],
            y[folds == f] @ y[folds == f], float((folds == f).sum())) for f in range(num_folds)]
  return tuple(np.stack([s[k] for s in stats]) for k in range(4))


def lasso_cv(x: np.ndarray, y: np.ndarray, folds: np.ndarray, *, num_alphas: int = 12,
             alpha_ratio: float = 1e-4, iters: int = 500) -> tuple[dict, dict]:
  """LASSO with k-fold CV over a log grid from alpha_max down to alpha_max * alpha_ratio.

  Args:
    x: float[n, P] standardised features; y: float[n] targets.
    folds: int[n] fold id of each row in [0, F).
    num_alphas: points of the alpha grid (alpha_max makes every weight zero).
    alpha_ratio: the grid's smallest alpha as a share of alpha_max.
    iters: FISTA iterations per fit.

  Returns:
    (params {"w": [P], "b": []}, info {"alpha", "alphas", "cv_mse": [A]}).
  """
  chex.assert_rank([x, y, folds], [2, 1, 1])
  num_folds = int(folds.max()) + 1
  if num_folds < 2:
    raise ValueError("lasso_cv needs >= 2 folds; pass fold ids with at least two values")
  gram_f, xty_f, yty_f, count_f = fold_statistics(x, y, folds, num_folds)
  n = count_f.sum()
  centred = xty_f.sum(0)[1:] - gram_f.sum(0)[0, 1:] * (xty_f.sum(0)[0] / n)
  alpha_max = max(float(np.abs(centred).max() / n), 1e-8)
  alphas = alpha_max * np.logspace(0, np.log10(alpha_ratio), num_alphas)
  penalised = np.r_[0.0, np.ones(x.shape[1])]
  cv = np.asarray(_lasso_grid(*(jnp.asarray(a, jnp.float32) for a in (gram_f, xty_f, yty_f,
                                                                      count_f)),
                              jnp.asarray(alphas, jnp.float32), iters,
                              jnp.asarray(penalised, jnp.float32)))
  mean = cv.mean(0)
  best = int(np.argmin(mean))
  w = np.asarray(_lasso_full(jnp.asarray(gram_f.sum(0), jnp.float32),
                             jnp.asarray(xty_f.sum(0), jnp.float32), jnp.float32(n),
                             jnp.float32(alphas[best]), iters,
                             jnp.asarray(penalised, jnp.float32)))
  return ({"w": w[1:], "b": w[0]},
          {"alpha": float(alphas[best]), "alphas": alphas.tolist(), "cv_mse": mean.tolist(),
           "nonzero": int((np.abs(w[1:]) > 0).sum())})


def predict_linear(params, x):
  """x [B, P] -> [B]: x w + b."""
  return x @ params["w"] + params["b"]


# ------------------------------------------------------------------- logistic regression (clf)


def class_index(y) -> np.ndarray:
  """{-1, 0, 1} -> {0, 1, 2}."""
  return np.asarray(y, np.int64) + 1


def _logistic_loss(params, x, labels, weights, l2):
  logits = x @ params["w"] + params["b"]
  nll = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  return jnp.sum(weights * nll) / jnp.maximum(jnp.sum(weights), 1.0) + 0.5 * l2 * jnp.sum(
      jnp.square(params["w"]))


def _logistic_train(x, labels, weights, l2, steps: int, learning_rate: float):
  params = {"w": jnp.zeros((x.shape[1], len(CLASSES))), "b": jnp.zeros((len(CLASSES),))}
  optimizer = optax.adam(learning_rate)

  def step(carry, _):
    params, state = carry
    grads = jax.grad(_logistic_loss)(params, x, labels, weights, l2)
    updates, state = optimizer.update(grads, state)
    return (optax.apply_updates(params, updates), state), None

  (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
  return params


@functools.partial(jax.jit, static_argnums=(4, 5, 6))
def _logistic_grid(x, labels, folds, l2s, num_folds, steps, learning_rate):
  """Validation log-loss [F, A] of every (fold, l2), vmapped."""

  def one(fold, l2):
    train = (folds != fold).astype(jnp.float32)
    params = _logistic_train(x, labels, train, l2, steps, learning_rate)
    return _logistic_loss(params, x, labels, 1.0 - train, 0.0)

  return jax.vmap(lambda f: jax.vmap(lambda a: one(f, a))(l2s))(jnp.arange(num_folds))


@functools.partial(jax.jit, static_argnums=(3, 4))
def _logistic_full(x, labels, l2, steps, learning_rate):
  return _logistic_train(x, labels, jnp.ones(x.shape[0]), l2, steps, learning_rate)


def logistic_cv(x: np.ndarray, y: np.ndarray, folds: np.ndarray, *,
                l2s=(1e-4, 1e-3, 1e-2, 1e-1, 1.0), steps: int = 300,
                learning_rate: float = 0.05) -> tuple[dict, dict]:
  """Multinomial logistic regression on classes {-1, 0, 1} (eq. 4), L2 chosen by k-fold CV.

  Returns:
    (params {"w": [P, 3], "b": [3]}, info {"l2", "l2s", "cv_logloss"}).
  """
  chex.assert_rank([x, y, folds], [2, 1, 1])
  num_folds = int(folds.max()) + 1
  labels = jnp.asarray(class_index(y))
  xj = jnp.asarray(x, jnp.float32)
  cv = np.asarray(_logistic_grid(xj, labels, jnp.asarray(folds), jnp.asarray(l2s, jnp.float32),
                                 num_folds, steps, learning_rate)).mean(0)
  best = int(np.argmin(cv))
  params = _logistic_full(xj, labels, jnp.float32(l2s[best]), steps, learning_rate)
  return (jax.tree.map(np.asarray, params),
          {"l2": float(l2s[best]), "l2s": list(l2s), "cv_logloss": cv.tolist()})


def predict_logits(params, x):
  """x [B, P] -> logits [B, 3] over classes (-1, 0, 1)."""
  return x @ params["w"] + params["b"]


def down_score(logits):
  """The value eq. 9 maximises for a classifier: log-odds that i moves DOWN (class +1)."""
  return logits[..., 2] - jax.nn.logsumexp(logits[..., :2], axis=-1)


# ------------------------------------------------------------------------------------- MLP


def mlp_init(key, sizes):
  """He-normal dense layers for `sizes` = (in, hidden..., out)."""
  keys = jax.random.split(key, len(sizes) - 1)
  return [{"w": jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), "b": jnp.zeros((b,))}
          for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def mlp_apply(layers, x):
  """ReLU hidden layers, linear output."""
  for layer in layers[:-1]:
    x = jax.nn.relu(x @ layer["w"] + layer["b"])
  return x @ layers[-1]["w"] + layers[-1]["b"]


def _adam_fit(loss, params, arrays, *, steps, batch_size, learning_rate, seed, valid=None,
              eval_every: int = 100):
  """Minibatch Adam on loss(params, *batch) over row-aligned arrays (jitted scans).

  With `valid` (row-aligned arrays like `arrays`), the validation loss is computed every
  `eval_every` steps and the best parameters seen are returned (early stopping) together
  with the step count that reached them; without it, the final parameters and `steps`.
  """
  n = arrays[0].shape[0]
  batch = min(batch_size, n)
  optimizer = optax.adam(learning_rate)

  @jax.jit
  def segment(params, state, arrays, keys):
    def step(carry, key):
      params, state = carry
      rows = jax.random.randint(key, (batch,), 0, n)
      grads = jax.grad(loss)(params, *jax.tree.map(lambda a: a[rows], arrays))
      updates, state = optimizer.update(grads, state, params)
      return (optax.apply_updates(params, updates), state), None

    (params, state), _ = jax.lax.scan(step, (params, state), keys)
    return params, state

  keys = jax.random.split(jax.random.PRNGKey(seed), steps)
  state = optimizer.init(params)
  if valid is None:
    params, _ = segment(params, state, arrays, keys)
    return jax.tree.map(np.asarray, params), steps
  valid_loss = jax.jit(loss)
  best = (float(valid_loss(params, *valid)), params, 0)
  for start in range(0, steps, eval_every):
    params, state = segment(params, state, arrays, keys[start:start + eval_every])
    value = float(valid_loss(params, *valid))
    if value < best[0]:
      best = (value, params, min(start + eval_every, steps))
  return jax.tree.map(np.asarray, best[1]), best[2]


def mlp_fit(x: np.ndarray, y: np.ndarray, *, classify: bool, hidden=(64, 64), steps: int = 2000,
            batch_size: int = 512, learning_rate: float = 1e-3, weight_decay: float = 1e-5,
            seed: int = 0, valid: np.ndarray | None = None, info: dict | None = None):
  """The paper's 3-layer MLP: regression (MSE on y) or classification (CE on {-1, 0, 1}).

  Regression targets are standardised for training (Delta y is ~1e-2 in scale: on the raw
  scale the He-initialised output and the weight decay swamp the MSE) and the scale is folded
  back into the output layer, so `mlp_apply` predicts Delta y itself.

  Args:
    valid: optional bool[n] rows (e.g. one user fold) held out to choose the step count
      (early stopping every 100 steps); the model is then refitted on all rows for that many
      steps (at least 100).
    info: optional dict receiving {"steps_chosen", "target_mean", "target_std"}.
  """
  chex.assert_rank([x, y], [2, 1])
  out = len(CLASSES) if classify else 1
  y = np.asarray(y, np.float64)
  mu, sd = (0.0, 1.0) if classify else (float(y.mean()), float(y.std()) + 1e-12)
  target = jnp.asarray(class_index(y) if classify else ((y - mu) / sd).astype(np.float32))
  xj = jnp.asarray(x, jnp.float32)

  def loss(params, xb, yb):
    out = mlp_apply(params, xb)
    decay = weight_decay * sum(jnp.sum(jnp.square(p["w"])) for p in params)
    if classify:
      return optax.softmax_cross_entropy_with_integer_labels(out, yb).mean() + decay
    return jnp.mean(jnp.square(out[:, 0] - yb)) + decay

  init = mlp_init(jax.random.PRNGKey(seed), (x.shape[1], *hidden, out))
  chosen = steps
  if valid is not None and 0 < int(np.sum(valid)) < len(y):
    valid = np.asarray(valid, bool)
    _, chosen = _adam_fit(loss, init, (xj[~valid], target[~valid]), steps=steps,
                          batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                          valid=(xj[valid], target[valid]))
    chosen = max(chosen, 100)
  params, _ = _adam_fit(loss, init, (xj, target), steps=chosen, batch_size=batch_size,
                        learning_rate=learning_rate, seed=seed)
  if not classify:
    params[-1] = {"w": params[-1]["w"] * sd, "b": params[-1]["b"] * sd + mu}
  if info is not None:
    info.update(steps_chosen=int(chosen), target_mean=mu, target_std=sd)
  return params


# -------------------------------------------------------------------------------- DeepSets


def deepsets_init(key, user_dim, item_dim, hidden=32):
  """phi: item_dim -> hidden -> hidden (ReLU); head: linear over [u, sum phi, i]."""
  k1, k2 = jax.random.split(key)
  return {"phi": mlp_init(k1, (item_dim, hidden, hidden)),
          "head": {"w": jnp.zeros((user_dim + hidden + item_dim,)), "b": jnp.zeros(())}}


def deepsets_apply(params, user, deleted, mask, item):
  """Linear head over [u, sum_d phi(d), i]: user [B,p], deleted [B,R,q], mask [B,R], item [B,q]."""
  phi = jax.nn.relu(mlp_apply(params["phi"], deleted)) * mask[..., None]
  x = jnp.concatenate([user, phi.sum(1), item], axis=-1)
  return x @ params["head"]["w"] + params["head"]["b"]


def deepsets_fit(user, deleted, mask, item, y, *, hidden=32, steps=2000, batch_size=512,
                 learning_rate=1e-3, seed=0):
  """Fits the DeepSets ablation surrogate with MSE (inputs already standardised)."""
  params = deepsets_init(jax.random.PRNGKey(seed), user.shape[1], item.shape[1], hidden)

  def loss(params, u, d, m, i, yb):
    return jnp.mean(jnp.square(deepsets_apply(params, u, d, m, i) - yb))

  # standardised targets (as in `mlp_fit`), the scale folded back into the linear head
  y = np.asarray(y, np.float64)
  mu, sd = float(y.mean()), float(y.std()) + 1e-12
  arrays = tuple(jnp.asarray(a, jnp.float32) for a in (user, deleted, mask, item, (y - mu) / sd))
  params, _ = _adam_fit(loss, params, arrays, steps=steps, batch_size=batch_size,
                        learning_rate=learning_rate, seed=seed)
  params["head"] = {"w": params["head"]["w"] * sd, "b": params["head"]["b"] * sd + mu}
  return params
