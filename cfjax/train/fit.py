"""Training ONE model: a `lax.scan` over optimisation steps, pure and vmap-safe.

The batched engine (`cfjax/train/batched.py`) is the only place that vmaps this.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from cfjax.models.base import Recommender, weighted_loss
from cfjax.util import check_int, check_number
from cfjax.types import Array, OptState, Params, PRNGKey


@flax.struct.dataclass
class TrainData:
  """Training rows on the device: user, item: int32[N]; rating: float32[N]; `extra`: more
  per-row columns ([N] each, e.g. {"negative": int32[N]} for pairwise triples) that a model
  names in its `row_columns` (cfjax/models/base.py)."""

  user: Array
  item: Array
  rating: Array
  extra: dict = flax.struct.field(default_factory=dict)

  @property
  def num_rows(self) -> int:
    return self.user.shape[0]

  def take(self, rows: Array) -> "TrainData":
    """The rows at indices `rows` [B], every column (extra ones too)."""
    return TrainData(self.user[rows], self.item[rows], self.rating[rows],
                     {name: column[rows] for name, column in self.extra.items()})


def to_train_data(interactions, extra: dict | None = None) -> TrainData:
  """Moves an `Interactions` record's rows to the device, keeping the row order.

  Args:
    interactions: the rows (user, item, rating [N]; its `columns`, if any, become `extra`).
    extra: more per-row columns {name: [N]} (e.g. a negative item per row), added to the
      record's own; integer columns become int32, others float32.
  """
  num_rows = len(interactions.user)
  columns = {}
  merged = {**(getattr(interactions, "columns", None) or {}), **(extra or {})}
  for name, column in merged.items():
    column = np.asarray(column)
    if column.shape != (num_rows,):
      raise ValueError(f"extra column {name!r} has shape {column.shape}; it needs one value "
                       f"per row, shape ({num_rows},)")
    dtype = jnp.int32 if np.issubdtype(column.dtype, np.integer) else jnp.float32
    columns[name] = jnp.asarray(column, dtype)
  return TrainData(user=jnp.asarray(interactions.user, jnp.int32),
                   item=jnp.asarray(interactions.item, jnp.int32),
                   rating=jnp.asarray(interactions.rating, jnp.float32), extra=columns)


def step_key(order_key: PRNGKey, step: Array) -> PRNGKey:
  """The key a negative-sampling model gets at optimizer step `step`: a function of the order
  key (the seed) and the step only, never of the weights, so every deletion retrained under a
  seed draws the same negatives (paired randomness)."""
  return jax.random.fold_in(jax.random.fold_in(order_key, 0x4E47), step)


class TrainState(NamedTuple):
  """What training carries: the parameters and the optimizer state (e.g. Adam moments)."""

  params: Params
  opt_state: OptState


def seed_keys(seed: int) -> tuple[PRNGKey, PRNGKey]:
  """The two keys a seed stands for: (init_key, order_key)."""
  init_key, order_key = jax.random.split(jax.random.PRNGKey(seed))
  return init_key, order_key


def init_state(model: Recommender, init_key: PRNGKey) -> TrainState:
  """Fresh parameters from `init_key` and a fresh optimizer state."""
  params = model.init(init_key)
  return TrainState(params, model.optimizer.init(params))


def steps_per_epoch(num_rows: int, batch_size: int | None) -> int:
  """Minibatches per epoch; the remainder of each epoch's permutation is dropped."""
  if batch_size is None:
    return 1
  if not 0 < batch_size <= num_rows:
    raise ValueError(f"batch_size={batch_size} must lie in [1, {num_rows}] (the number of "
                     "training rows); pass batch_size=None for full-batch training")
  return num_rows // batch_size


def fit(model: Recommender, data: TrainData, weights: Array, *, state: TrainState,
        order_key: PRNGKey, steps: int, batch_size: int | None = None,
        remat_every: int | None = None) -> TrainState:
  """Trains ONE model on weighted rows (Yao et al., eq. 1) for `steps` optimizer steps.

  Minimises sum_n w_n l_n(theta) / sum_n w_n + penalty(theta). With `batch_size=None` every
  step sees all rows (full batch). Otherwise each epoch visits a permutation of the rows
  drawn from `fold_in(order_key, epoch)` in batches of `batch_size` (the last partial batch
  is dropped); the order does not depend on `weights`, so models that differ only in their
  weights see identical batches (paired randomness).

  Args:
    model: the recommender.
    data: training rows [N].
    weights: float32[N] per-row multipliers (0 deletes a row).
    state: initial parameters and optimizer state (fresh for scratch, trained for warm).
    order_key: key of the minibatch order (unused in full batch).
    steps: number of optimizer steps (static).
    batch_size: rows per step (static), or None for full batch.
    remat_every: None (default) or a block length B (static): for differentiating through
      training (`cfjax.explain.metagrad`), steps run in blocks of B under `jax.checkpoint`
      (and each minibatch epoch is one checkpointed block of such blocks), so a reverse pass
      keeps one state per block and recomputes the steps inside. Same steps, same result.

  Returns:
    The final `TrainState`.
  """
  state = with_row_weights(model, state, weights)
  if model.closed_form is not None:  # e.g. EASE: trained exactly, no steps
    return TrainState(model.closed_form(state.params), state.opt_state)
  sampling = model.samples_negatives  # static: other models compile exactly as before
  step = _step_function(model, data, weights, order_key)
  scan = functools.partial(_scan_steps, remat_every=remat_every)
  if batch_size is None:
    if sampling:
      return scan(lambda s, index: step(s, None, index), state, jnp.arange(steps), steps)
    return scan(lambda s, _: step(s, None), state, None, steps)
  return _minibatch_epochs(step, scan, state, num_rows=data.num_rows, order_key=order_key,
                           steps=steps, batch_size=batch_size, sampling=sampling,
                           remat=remat_every is not None)


def _step_function(model: Recommender, data: TrainData, weights: Array, order_key: PRNGKey):
  """One optimizer step `step(state, rows, index=None) -> (state, None)`: the weighted loss
  of the rows at `rows` [B] (None: every row), with the step's negative-sampling key."""
  sampling = model.samples_negatives

  def step(state, rows, index=None):
    batch = data if rows is None else data.take(rows)
    batch_weights = weights if rows is None else weights[rows]
    key = step_key(order_key, index) if sampling else None
    grads = jax.grad(lambda p: weighted_loss(model, p, batch.user, batch.item, batch.rating,
                                             batch_weights, extra=batch.extra, key=key))(
        state.params)
    updates, opt_state = model.optimizer.update(grads, state.opt_state, state.params)
    return TrainState(optax.apply_updates(state.params, updates), opt_state), None

  return step


def _scan_steps(body, state, xs, length: int, *, remat_every: int | None):
  """`length` steps of `body` over `xs` (a `lax.scan`); with `remat_every` = B and more than
  B steps, in `jax.checkpoint`ed blocks of B steps (then the rest)."""
  if remat_every is None or length <= remat_every:
    return jax.lax.scan(body, state, xs, length=length)[0]
  blocks, rest = divmod(length, remat_every)
  head = jax.tree.map(lambda x: x[:blocks * remat_every].reshape(
      (blocks, remat_every) + x.shape[1:]), xs)
  block = jax.checkpoint(lambda s, x: (jax.lax.scan(body, s, x, length=remat_every)[0], None))
  state = jax.lax.scan(block, state, head, length=blocks)[0]
  if rest:
    tail = jax.tree.map(lambda x: x[blocks * remat_every:], xs)
    state = jax.lax.scan(body, state, tail, length=rest)[0]
  return state


def epoch_batches(order_key: PRNGKey, epoch, num_rows: int, batch_size: int) -> Array:
  """int32[per_epoch, batch_size]: epoch `epoch`'s row order, a permutation drawn from
  `fold_in(order_key, epoch)` (never from the weights), cut into batches; the rest dropped."""
  per_epoch = steps_per_epoch(num_rows, batch_size)
  order = jax.random.permutation(jax.random.fold_in(order_key, epoch), num_rows)
  return order[: per_epoch * batch_size].reshape(per_epoch, batch_size)


def _minibatch_epochs(step, scan, state: TrainState, *, num_rows: int, order_key: PRNGKey,
                      steps: int, batch_size: int, sampling: bool, remat: bool) -> TrainState:
  """`steps` minibatch steps: whole epochs in a `lax.scan` (each epoch checkpointed when
  `remat`), then the first batches of one more epoch."""
  per_epoch = steps_per_epoch(num_rows, batch_size)
  full_epochs, remainder = divmod(steps, per_epoch)

  def run_batches(state, epoch, count):
    batches = epoch_batches(order_key, epoch, num_rows, batch_size)[:count]
    if not sampling:
      return scan(step, state, batches, count)
    indices = epoch * per_epoch + jnp.arange(count)
    return scan(lambda s, pair: step(s, *pair), state, (batches, indices), count)

  def run_epoch(state, epoch):
    return run_batches(state, epoch, per_epoch), None

  if remat:
    run_epoch = jax.checkpoint(run_epoch)
  state, _ = jax.lax.scan(run_epoch, state, jnp.arange(full_epochs))
  if remainder:
    state = run_batches(state, full_epochs, remainder)
  return state


def with_row_weights(model: Recommender, state: TrainState, weights: Array) -> TrainState:
  """The state with the row weights put into its params, for a model whose forward pass reads
  them (`Recommender.attach_weights`: LightGCN's graph, EASE's Gram matrix); else unchanged."""
  if model.attach_weights is None:
    return state
  return state._replace(params=model.attach_weights(state.params, weights))


@dataclasses.dataclass(frozen=True)
class Convergence:
  """Train until the gradient vanishes instead of for a fixed number of steps.

  A model stops when the global norm of its full-batch gradient, ||grad L(theta; w)||_2, falls
  below `tol`, or after `max_steps` (then it is reported as not converged). Full batch only:
  a minibatch gradient never vanishes.

  Attributes:
    tol: the gradient-norm tolerance.
    max_steps: the most optimizer steps.
    method: "lbfgs" (optax's L-BFGS with a zoom line search: converges to the optimum of a
      smooth problem; the default) or "adam" (the model's own optimizer, continued; Adam with
      a constant step size oscillates near a minimum, so it may stop only at max_steps).
  """

  tol: float = 1e-5
  max_steps: int = 2000
  method: str = "lbfgs"

  def __post_init__(self):
    check_number(self.tol, "Convergence tol", minimum=0.0)
    check_int(self.max_steps, "Convergence max_steps", minimum=1)
    if self.method not in ("lbfgs", "adam"):
      raise ValueError(f"Convergence method={self.method!r} must be 'lbfgs' or 'adam'")


class Converged(NamedTuple):
  """What training to convergence reached: the gradient norm and the steps it took."""

  grad_norm: Array
  steps: Array


def fit_to_convergence(model: Recommender, data: TrainData, weights: Array, *,
                       state: TrainState, until: Convergence) -> tuple[TrainState, Converged]:
  """Trains ONE model on weighted rows (Yao et al., eq. 1) until its gradient vanishes.

  A `lax.while_loop` of full-batch steps while ||grad|| >= until.tol and fewer than
  until.max_steps steps ran. Vmapped (the engine), each model keeps its own count: a converged
  model stays put while the others of its chunk continue, so the chunk ends when all have
  converged or hit max_steps. With method="lbfgs" the optimizer state is L-BFGS's; the
  returned `TrainState` keeps the incoming optimizer state (an Adam state stays valid for a
  later warm start).

  Args:
    model: the recommender.
    data: training rows [N].
    weights: float32[N] per-row multipliers (0 deletes a row).
    state: the start (fresh for scratch, the trained original for warm).
    until: the tolerance, step budget and method.

  Returns:
    (the final `TrainState`, `Converged` with the final gradient norm and the steps taken).
  """
  state = with_row_weights(model, state, weights)
  if model.closed_form is not None:  # exact: nothing left to converge
    return (TrainState(model.closed_form(state.params), state.opt_state),
            Converged(jnp.zeros(()), jnp.zeros((), jnp.int32)))
  if model.samples_negatives:
    raise ValueError(f"model {model.name!r} samples negatives, so its loss changes every step "
                     "and its gradient never vanishes; train it for a number of steps instead "
                     "of until=")

  def loss(params):
    return weighted_loss(model, params, data.user, data.item, data.rating, weights,
                         extra=data.extra)

  lbfgs = until.method == "lbfgs"
  optimizer = optax.lbfgs() if lbfgs else model.optimizer
  # L-BFGS keeps the value and gradient of its accepted point: reading them costs nothing.
  value_and_grad = optax.value_and_grad_from_state(loss) if lbfgs else (
      lambda params, state: jax.value_and_grad(loss)(params))
  opt_state = optimizer.init(state.params) if lbfgs else state.opt_state
  value, grads = value_and_grad(state.params, state=opt_state)

  def not_done(carry):
    *_, grads, steps = carry
    return (optax.global_norm(grads) >= until.tol) & (steps < until.max_steps)

  def step(carry):
    params, opt_state, value, grads, steps = carry
    extra = dict(value=value, grad=grads, value_fn=loss) if lbfgs else {}
    updates, opt_state = optimizer.update(grads, opt_state, params, **extra)
    params = optax.apply_updates(params, updates)
    value, grads = value_and_grad(params, state=opt_state)
    return params, opt_state, value, grads, steps + 1

  params, opt_state, _, grads, steps = jax.lax.while_loop(
      not_done, step, (state.params, opt_state, value, grads, jnp.int32(0)))
  final = TrainState(params, state.opt_state if lbfgs else opt_state)
  return final, Converged(optax.global_norm(grads), steps)


def deleted_weights(deleted_rows: Array, num_rows: int) -> Array:
  """float32[N] weights with the listed rows set to 0; entries -1 are padding.

  Args:
    deleted_rows: int32[R] row indices, padded with -1.
    num_rows: N.
  """
  rows = jnp.where(deleted_rows < 0, num_rows, deleted_rows)  # padding -> out of bounds
  return jnp.ones((num_rows,), jnp.float32).at[rows].set(0.0, mode="drop")


def pad_deletions(deletions, width: int | None = None) -> np.ndarray:
  """Packs a list of row-index lists into int32[M, R] padded with -1."""
  deletions = [np.asarray(rows, dtype=np.int64).ravel() for rows in deletions]
  width = max([len(rows) for rows in deletions] + [1]) if width is None else width
  packed = np.full((len(deletions), width), -1, dtype=np.int32)
  for m, rows in enumerate(deletions):
    if len(rows) > width:
      raise ValueError(f"deletion {m} has {len(rows)} rows, more than the width {width}")
    packed[m, :len(rows)] = rows
  return packed
