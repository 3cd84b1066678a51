"""The recommender contract shared by every model in cfjax, and the hooks explainers use.

A recommender is a bundle of pure functions over a params pytree (Flax Linen `init`/`apply`
underneath). Training needs `init`, `row_losses` and `penalty`; ranking needs `scores`. Keeping
the loss *per row* is what makes a counterfactual model a reweighting of the original one
(Yao et al., eq. 1).

Explainers need more than scores, and ask for it through optional **hooks** instead of
switching on the model's name:

  item_embeddings(params) -> [I, D]      knn (Yao et al. sec. 6.1), the surrogate's phi_i
  user_embeddings(params) -> [U, D]      the surrogate's phi_u (Yao et al. eq. 8)
  related_rows(user, item) -> entries    FIA's parameters of f(u, i) (Cheng et al. 2019):
                                         ((path, row), ...) naming the embedding rows of u
                                         and i, e.g. (("user_factors",), u); rows may be traced
  score_rows(params, x[B, I]) -> [B, I]  an amortised model's scores of arbitrary input rows
                                         (Mult-VAE: removing items from x IS the counterfactual)
  history_item_score(params, hist[N], values[N], item) -> scalar
                                         the same for one item, reading only the history
                                         (LCER's fast path; optional even for amortised models)
  attention_weights(params, user, item, rows[R]) -> [R]
                                         an attention model's weight of each of the user's
                                         training rows in f(user, item) (ACCENT's attention
                                         baselines; RCF)

A missing hook gives a one-line `MissingHookError` naming the hook and what to pass.

**Rows beyond (user, item, rating).** A training row may carry extra columns (a pairwise
model's negative item, as in ACCENT's RCF triples): the model names them in `row_columns`
and its `row_losses` takes them as keyword arguments ([B] each). A model that samples
negatives sets `samples_negatives=True` and its `row_losses` takes `key=`: the key of the
step, drawn from the order key and the step index only, so every model of a batch (every
deletion) draws the same negatives and the deletion stays the only difference. Deleting a
row still sets its one weight to 0.

**Predictions that read the training rows.** A model whose score of (u, i) reads u's training
history (RCF's attention over u's items) sets `attach_weights(params, weights[N]) -> params`:
training calls it once with the row weights before the first step, so a model retrained
without rows also predicts without them (the history lives in a params leaf that gets no
gradient and that the optimizer leaves alone).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from cfjax.types import Array, Params, PRNGKey

HOOKS = ("item_embeddings", "user_embeddings", "related_rows", "score_rows",
         "history_item_score", "attention_weights")
_HOOK_HELP = {
    "row_losses": "row_losses=lambda params, users, items, ratings: per-row losses [B]",
    "item_embeddings": "item_embeddings=lambda params: an [I, D] array",
    "user_embeddings": "user_embeddings=lambda params: a [U, D] array",
    "related_rows": ("related_rows=lambda user, item: ((path_to_user_table, user), "
                     "(path_to_item_table, item), ...)"),
    "score_rows": "score_rows=lambda params, x: scores [B, I] of input rows x [B, I]",
    "history_item_score": ("history_item_score=lambda params, hist, values, item: the score "
                           "of `item` for the input row with x[hist] = values"),
    "attention_weights": ("attention_weights=lambda params, user, item, rows: the attention "
                          "weight [R] of each of the user's training rows for f(user, item)"),
    "attach_weights": ("attach_weights=lambda params, weights: params whose predictions read only "
                     "the rows of weight > 0"),
}


class MissingHookError(ValueError):
  """A model lacks a hook that an explainer or pipeline needs (the message names it)."""


@dataclasses.dataclass(frozen=True)
class Recommender:
  """A recommender as pure functions. Static: hashable by identity, never traced.

  Attributes:
    name: registry name, e.g. "mf".
    num_users: U.
    num_items: I.
    init: key -> params.
    predict: (params, users: int32[B], items: int32[B]) -> float32[B] predicted scores.
    scores: (params, users: int32[B]) -> float32[B, I] scores of every item. Default: `predict`
      of every (user, item) pair.
    row_losses: (params, users[B], items[B], ratings[B]) -> float32[B], the loss of each
      training row, including any per-row regulariser; None for a model that is not trained
      on rows (an amortised model's view of fixed input rows cannot be retrained).
    penalty: params -> scalar, a regulariser that does not depend on rows. Default: 0.
    optimizer: the optax optimizer the model is trained with.
    hparams: every hyperparameter, for config files and cache keys.
    row_columns: names of the extra per-row columns `row_losses` takes as keyword arguments
      (`TrainData.extra`), e.g. ("negative",) for (user, positive, negative) triples.
    samples_negatives: whether `row_losses` takes `key=` (a PRNG key per step, the same for
      every model of a batch) to sample what it needs, e.g. BPR's negatives.
    item_embeddings: params -> [I, D] (an optional hook, as every field down to
      attention_weights; the module docstring lists them and the explainers that read them;
      None: not provided).
    user_embeddings: params -> [U, D].
    related_rows: (user, item) -> the parameter entries of f(user, item) (FIA's hook).
    score_rows: (params, x [B, I]) -> [B, I] scores of arbitrary input rows.
    history_item_score: (params, hist [N], values [N], item) -> the score of `item` for the
      input row with x[hist] = values.
    attention_weights: (params, user, item, rows [R]) -> [R] attention weights.
    attach_weights: (params, weights float32[N]) -> params, for a model whose forward pass
      reads the weights of ALL its training rows (a graph model's edges, EASE's Gram matrix,
      RCF's attended history):
      `fit` puts the row weights into the params (an untrained leaf) before training, so
      `scores` and `row_losses` of a counterfactual see its deletion. The model is built for
      its training rows (make_model(name, train)); N must be theirs.
    closed_form: params -> params, for a model trained in closed form (EASE): `fit` returns
      closed_form(attach_weights(params, weights)) instead of running optimizer steps, so the
      engine retrains it exactly (seeds and steps do not matter).
    exact_retrain: (deleted_rows int[M, R] padded with -1, users int[M]) -> float32[M, I],
      each user's scores after retraining exactly without the rows, for a closed-form model
      with a fast exact route (EASE: a Woodbury update); `retrain_user_scores` (hence
      `verify`) uses it instead of the engine.
  """

  name: str
  num_users: int
  num_items: int
  init: Callable[[PRNGKey], Params]
  predict: Callable[[Params, Array, Array], Array]
  scores: Callable[[Params, Array], Array] | None = None
  row_losses: Callable[[Params, Array, Array, Array], Array] | None = None
  penalty: Callable[[Params], Array] | None = None
  optimizer: optax.GradientTransformation = dataclasses.field(
      default_factory=lambda: optax.adam(1e-2))
  hparams: dict = dataclasses.field(default_factory=dict)
  item_embeddings: Callable[[Params], Array] | None = None
  user_embeddings: Callable[[Params], Array] | None = None
  related_rows: Callable[[Array, Array], tuple] | None = None
  score_rows: Callable[[Params, Array], Array] | None = None
  history_item_score: Callable[..., Array] | None = None
  attention_weights: Callable[..., Array] | None = None
  row_columns: tuple[str, ...] = ()
  samples_negatives: bool = False
  attach_weights: Callable[[Params, Array], Params] | None = None
  closed_form: Callable[[Params], Params] | None = None
  exact_retrain: Callable[[Array, Array], Array] | None = None

  __hash__ = object.__hash__
  __eq__ = object.__eq__

  def __post_init__(self):
    if not isinstance(self.name, str) or not self.name:
      raise ValueError(f"Recommender name must be a non-empty string, got {self.name!r}")
    for field in ("num_users", "num_items"):
      value = getattr(self, field)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Recommender {field} must be a positive int, got {value!r}")
    if self.scores is None:
      object.__setattr__(self, "scores", _scores_from_predict(self.predict, self.num_items))
    if self.penalty is None:
      object.__setattr__(self, "penalty", zero_penalty)
    object.__setattr__(self, "row_columns", tuple(self.row_columns))

  def has(self, hook: str) -> bool:
    """Whether the model provides `hook` (a name of `HOOKS`, or "row_losses")."""
    return getattr(self, hook) is not None

  def require(self, hook: str, needed_by: str) -> Callable:
    """The hook `hook`, or a one-line `MissingHookError` naming it and what to pass."""
    value = getattr(self, hook, None)
    if value is None:
      raise MissingHookError(
          f"model {self.name!r} has no {hook} hook, which {needed_by} needs; build it with "
          f"Recommender(..., {_HOOK_HELP.get(hook, hook + '=...')})")
    return value


def retrainable(model: Recommender) -> bool:
  """Whether counterfactuals of `model` come from retraining: trained on per-row losses, or
  solved in closed form from weighted rows (`closed_form`, e.g. EASE)."""
  return model.has("row_losses") or model.closed_form is not None


def row_weights_leaf(name: str, num_rows: int, leaf: str,
                     transform: Callable[[Array], Array] = lambda weights: weights
                     ) -> Callable[[Params, Array], Params]:
  """An `attach_weights` hook that stores transform(weights [N]) as params[leaf], after
  checking N is the number of rows the model was built for (a one-line error otherwise)."""

  def attach_weights(params, weights):
    if weights.shape != (num_rows,):
      raise ValueError(f"{name} was built for {num_rows} training rows but trains on "
                       f"{weights.shape[0]}; build it for the same data (make_model("
                       f"'{name}', train))")
    return {**params, leaf: transform(jnp.asarray(weights, jnp.float32))}

  return attach_weights


def zero_penalty(params: Params) -> Array:
  """No parameter regulariser."""
  del params
  return jnp.zeros(())


def _scores_from_predict(predict: Callable, num_items: int) -> Callable:
  """scores(params, users[B]) -> [B, I] from predict over every (user, item) pair."""

  def scores(params, users):
    items = jnp.arange(num_items, dtype=jnp.int32)
    return jax.vmap(lambda user: predict(params, jnp.full((num_items,), user, jnp.int32),
                                         items))(jnp.asarray(users, jnp.int32))

  return scores


def row_loss_options(model: Recommender, extra: dict | None, key: PRNGKey | None) -> dict:
  """The keyword arguments of `model.row_losses` beyond (params, users, items, ratings): its
  `row_columns` taken from `extra` and, for a model that samples negatives, `key`.

  Raises:
    ValueError: a column the model needs is missing, or a sampling model got no key.
  """
  extra = extra or {}
  missing = [name for name in model.row_columns if name not in extra]
  if missing:
    raise ValueError(f"model {model.name!r} trains on rows with column(s) {missing}, which the "
                     f"training data lacks; build it with TrainData(..., extra={{"
                     f"{missing[0]!r}: int32[N], ...}}) (to_train_data(rows, extra=...))")
  options = {name: extra[name] for name in model.row_columns}
  if model.samples_negatives:
    if key is None:
      raise ValueError(f"model {model.name!r} samples negatives and needs a key; pass key=")
    options["key"] = key
  return options


def weighted_loss(model: Recommender, params: Params, users: Array, items: Array,
                  ratings: Array, weights: Array, *, extra: dict | None = None,
                  key: PRNGKey | None = None) -> Array:
  """Weighted training loss over a batch of rows (Yao et al., eq. 1).

  L(theta) = sum_n w_n * l_n(theta) / max(sum_n w_n, 1) + penalty(theta).
  Normalising by the kept weight makes full-batch training with rows weighted zero
  identical to training on the data without those rows.

  Args:
    model: the recommender.
    params: its parameters.
    users: [B] the users of the batch's rows.
    items: [B] their items.
    ratings: [B] their ratings.
    weights: [B] per-row multipliers (0 deletes a row).
    extra: the batch's extra columns ([B] each) named by `model.row_columns`.
    key: the step's key, for a model that samples negatives (`model.samples_negatives`).

  Returns:
    The scalar loss.
  """
  row_losses = model.require("row_losses", "training")
  losses = row_losses(params, users, items, ratings, **row_loss_options(model, extra, key))
  total_weight = jnp.maximum(jnp.sum(weights), 1.0)
  return jnp.sum(weights * losses) / total_weight + model.penalty(params)


def linen_functions(module: Any, scores_method: str | None = "all_scores"
                    ) -> tuple[Callable, Callable, Callable | None]:
  """(init, predict, scores) of a Linen module with `__call__(users, items)`.

  init: key -> params; predict: (params, users[B], items[B]) -> [B];
  scores: (params, users[B]) -> [B, I] through the module's `scores_method` if it has one,
  else None (then `Recommender` derives scores from predict).
  """
  dummy = jnp.zeros((1,), jnp.int32)

  def init(key):
    return module.init(key, dummy, dummy)["params"]

  def predict(params, users, items):
    return module.apply({"params": params}, users, items)

  method = getattr(type(module), scores_method, None) if scores_method else None
  if method is None:
    return init, predict, None

  def scores(params, users):
    return module.apply({"params": params}, users, method=method)

  return init, predict, scores


def from_linen(module: Any, *, name: str, num_users: int, num_items: int,
               row_loss: Callable[[Array, Array], Array] | None = None,
               penalty: Callable[[Params], Array] | None = None,
               optimizer: optax.GradientTransformation | None = None,
               hparams: dict | None = None, **hooks) -> Recommender:
  """A `Recommender` from a Linen module with `__call__(users, items) -> [B]` scores.

  The per-row loss is `row_loss(prediction, rating)` (default: squared error, a rating
  model); `all_scores(users) -> [B, I]` on the module is used if present.

  Args:
    module: the Linen module.
    name: the model's name (as in `Recommender`).
    num_users: U (as in `Recommender`).
    num_items: I (as in `Recommender`).
    row_loss: (prediction [B], rating [B]) -> loss [B]; default (rating - prediction)^2.
    penalty: params -> scalar regulariser (default none).
    optimizer: default Adam 1e-2.
    hparams: the hyperparameters, for config files.
    **hooks: any of `HOOKS` (e.g. `item_embeddings=lambda p: p["item"]["embedding"]`).

  Returns:
    The `Recommender`.
  """
  unknown = set(hooks) - set(HOOKS)
  if unknown:
    raise ValueError(f"unknown hooks {sorted(unknown)}; the hooks are {', '.join(HOOKS)}")
  init, predict, scores = linen_functions(module)
  loss = row_loss or (lambda prediction, rating: jnp.square(rating - prediction))

  def row_losses(params, users, items, ratings):
    return loss(predict(params, users, items), ratings)

  return Recommender(name=name, num_users=num_users, num_items=num_items, init=init,
                     predict=predict, scores=scores, row_losses=row_losses, penalty=penalty,
                     optimizer=optimizer or optax.adam(1e-2), hparams=dict(hparams or {}),
                     **hooks)


SCHEDULES = ("constant", "cosine")


def adam_with_schedule(learning_rate: float, schedule: str = "constant",
                       decay_steps: int | None = None) -> optax.GradientTransformation:
  """Adam with a constant step size, or one that decays to 0 along a cosine over `decay_steps`.

  Under constant-step Adam, training never reaches a fixed point: near a minimum its steps are
  lr * m / sqrt(v) with v tiny, so the map from row weights to the final parameters is
  expanding (derivatives through training are noise, and "the" retrained model depends on
  where the oscillation stops). A step size that decays to 0 ends training at a fixed point.
  Warm continuation after a decayed schedule changes nothing (the step size is 0): use
  scratch retraining, or retraining to convergence (`cfjax.train.Convergence`), with it.
  """
  if schedule not in SCHEDULES:
    raise ValueError(f"schedule={schedule!r} is not one of {SCHEDULES}")
  if schedule == "constant":
    return optax.adam(learning_rate)
  if decay_steps is None or int(decay_steps) < 1:
    raise ValueError(f"schedule='cosine' needs decay_steps >= 1 (the training steps), got "
                     f"{decay_steps!r}")
  return optax.adam(optax.cosine_decay_schedule(learning_rate, int(decay_steps)))


def l2_penalty(params: Params) -> Array:
  """1/2 * sum of squares of every parameter (TensorFlow's `l2_loss` summed)."""
  return 0.5 * sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(params))
