"""The batched counterfactual retraining engine: the one place where `fit` is vmapped.

M deletions x S seeds are retrained in fixed-size chunks of C models. Each chunk is one
compiled call (the last chunk is padded, so nothing recompiles), sharded over all local
devices along the model axis; with several processes (`jax.distributed`) each retrains a
contiguous share of the chunks and the shares are gathered once (`cfjax.train.distributed`).
A `readout` runs inside the compiled call so only what the caller needs (e.g. one user's
scores) leaves the device.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from cfjax.models.base import Recommender
from cfjax.train import distributed
from cfjax.train.fit import (Converged, TrainData, TrainState, check_int, deleted_weights, fit,
                             fit_to_convergence, init_state, seed_keys)
from cfjax.train.health import check_training
from cfjax.train.protocol import RetrainProtocol
from cfjax.types import Params

Readout = Callable[[Params, Any], Any]


def params_readout(params: Params, readout_arg: Any) -> Params:
  """The default readout: the whole parameter pytree (fine for small models and tests)."""
  del readout_arg
  return params


@functools.lru_cache(maxsize=None)
def user_scores_readout(model: Recommender) -> Readout:
  """The readout (params, user int32[]) -> float32[I]: one user's scores of every item.

  Cached per model so the engine always sees the same function object (no recompiles).
  """

  def readout(params, user):
    return model.scores(params, user[None])[0]

  return readout


@dataclasses.dataclass(frozen=True)
class RetrainResult:
  """What a batched retrain returns, on the host.

  Attributes:
    outputs: the readout of every model, each leaf shaped [M, S, ...].
    control: if asked for, the readout of a retrain that deletes nothing, [S, ...]: under the
      warm protocol this measures the drift of continued training (FIA subtracts it).
    seconds: wall time of the retraining (compiles included on a first call).
  """

  outputs: Any
  control: Any | None
  seconds: float
  converged: Converged | None = None
  control_converged: Converged | None = None


def _one_model(model, kind, steps, batch_size, readout, until, data, start_state,
               deleted_rows, readout_arg, seed_key_pair):
  """Retrains one (deletion, seed) and reads it out. `fit` (or `fit_to_convergence`) for
  ONE model; with `until`, returns (readout, `Converged`)."""
  init_key, order_key = seed_key_pair
  weights = deleted_weights(deleted_rows, data.num_rows)
  state = init_state(model, init_key) if kind == "scratch" else start_state
  if until is None:
    state = fit(model, data, weights, state=state, order_key=order_key, steps=steps,
                batch_size=batch_size)
  else:
    state, converged = fit_to_convergence(model, data, weights, state=state, until=until)
  out = state if readout is state_readout else readout(state.params, readout_arg)
  return out if until is None else (out, converged)


def state_readout(params: Params, readout_arg: Any) -> Params:
  """Marker readout: the engine returns the whole `TrainState` (params and optimizer state)."""
  raise NotImplementedError("state_readout is a marker handled inside the engine")


def train_original_exact(model: Recommender, data: TrainData, protocol: RetrainProtocol, *,
                         check: bool = True) -> TrainState:
  """Trains the original model (under `protocol.seed`) through the engine's own compiled chunk.

  XLA may reassociate float32 sums differently for different batch shapes, so a model
  trained alone and the same model trained inside a vmapped chunk agree only to ~1e-7.
  Trained this way, the original is bitwise equal to every retrain under `protocol.paired()`
  that deletes nothing, in any chunk of the full size `protocol.models_per_call` (the cost is
  one chunk: `retrain` shrinks a chunk to M < chunk models, and a vmapped one-model chunk is
  another program, which drifted paired NCF verification by ~3e-7 and flipped 14 % of top-1s
  after 600 steps).

  Args:
    model: the recommender.
    data: the training rows [N].
    protocol: a scratch protocol (steps, batch size, the paired seed, models per call).
    check: run the health check (`cfjax.train.health.check_training`: a diverged or degenerate
      model raises `DivergedError`); False for a caller that runs it itself.
  """
  protocol = _scratch_original(protocol, data)
  chunk = protocol.models_per_call
  result = retrain(model, data, np.full((chunk, 1), -1), protocol.paired(),
                   readout=state_readout, progress=False)
  state = jax.tree.map(lambda leaf: jnp.asarray(leaf[0, 0]), result.outputs)
  return _checked(model, data, protocol, state) if check else state


def train_original(model: Recommender, data: TrainData, protocol: RetrainProtocol, *,
                   check: bool = True) -> TrainState:
  """Trains the original model alone (all rows weight 1) under `protocol`'s paired seed,
  steps and batch size; jitted once per configuration. See `train_original_exact` for an
  original that retrains under `protocol.paired()` reproduce to the bit in every shape.

  Args:
    model: the recommender.
    data: the training rows [N].
    protocol: a scratch protocol (its other seeds and chunking are not used).
    check: run the health check (`cfjax.train.health.check_training`: a diverged or degenerate
      model raises `DivergedError`); False for a caller that runs it itself.
  """
  protocol = _scratch_original(protocol, data)
  init_key, order_key = seed_keys(protocol.seed)
  state = _train_original_jit(model, data, init_key, order_key, protocol.steps,
                              protocol.batch_size)
  return _checked(model, data, protocol, state) if check else state


def _checked(model: Recommender, data: TrainData, protocol: RetrainProtocol,
             state: TrainState) -> TrainState:
  """`state` after the health check of a trained original (two full-data loss evaluations and
  a few users' scores, outside the engine's loop)."""
  check_training(model, data, initial=model.init(seed_keys(protocol.seed)[0]),
                 trained=state.params, steps=protocol.steps)
  return state


def _scratch_original(protocol: RetrainProtocol, data: TrainData) -> RetrainProtocol:
  """The protocol after one-line errors for what cannot train an original."""
  if not isinstance(protocol, RetrainProtocol):
    raise ValueError(f"protocol must be a cfjax.train.RetrainProtocol, got "
                     f"{type(protocol).__name__}; pass RetrainProtocol(steps=..., seeds=(seed,))")
  if protocol.kind != "scratch" or protocol.until is not None:
    raise ValueError(f"an original is trained from scratch for a number of steps, not under "
                     f"the {protocol.name!r} protocol; pass the scratch protocol it was "
                     "trained with (the verification protocol derives from it: continued())")
  return protocol.check_rows(data.num_rows)


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def _train_original_jit(model, data, init_key, order_key, steps, batch_size):
  weights = jnp.ones((data.num_rows,), jnp.float32)
  return fit(model, data, weights, state=init_state(model, init_key), order_key=order_key,
             steps=steps, batch_size=batch_size)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5, 6))
def _retrain_chunk(model, kind, steps, batch_size, readout, until, vector_width, data,
                   start_state, deleted_rows, readout_args, seed_key_pairs):
  """[C] deletions x [S] seeds -> readouts [C, S, ...]. The engine's only vmap site.

  The C models of a chunk are vmapped `vector_width` at a time; `lax.map` runs the groups one
  after another inside the same compiled call (vector_width=C: one vmap over the whole chunk).
  """
  one = functools.partial(_one_model, model, kind, steps, batch_size, readout, until, data,
                          start_state)
  over_seeds = jax.vmap(one, in_axes=(None, None, 0))
  over_models = jax.vmap(over_seeds, in_axes=(0, 0, None))
  if vector_width >= deleted_rows.shape[0]:
    return over_models(deleted_rows, readout_args, seed_key_pairs)
  # lax.map vmaps the per-model function over groups of `vector_width` itself.
  return jax.lax.map(lambda xs: over_seeds(*xs, seed_key_pairs), (deleted_rows, readout_args),
                     batch_size=vector_width)


def trace_count() -> int:
  """How many distinct compilations the chunk function holds (for no-recompile tests)."""
  return _retrain_chunk._cache_size()


def default_vector_width(batch_size: int | None, chunk: int) -> int:
  """How many models to vmap together by default (see docs/engine.md for the measurements).

  Minibatch steps are small and overhead-bound: vmapping the whole chunk amortises the
  overhead (NCF on ACCENT's data: 1.6-3x a sequential loop on CPU). Full-batch steps over
  tens of thousands of rows are bound by gathers and scatter-adds; on XLA:CPU these got
  ~3-4x slower per model once they carried a model axis, so there a chunk runs as a compiled
  loop over single models (about as fast as a sequential loop, without its dispatches).
  """
  if batch_size is None and jax.default_backend() == "cpu":
    return 1
  return chunk


def _model_mesh() -> Mesh:
  return Mesh(np.asarray(jax.local_devices()), ("models",))


def retrain(model: Recommender, data: TrainData, deleted_rows, protocol: RetrainProtocol, *,
            original: TrainState | None = None, readout: Readout = params_readout,
            readout_args: Any = None, vector_width: int | None = None, control: bool = False,
            control_args: Any = None, progress: bool = True,
            description: str = "retraining") -> RetrainResult:
  """Retrains one counterfactual model per deletion and seed (Yao et al., eq. 1).

  Model m under seed s minimises the training loss with rows `deleted_rows[m]` weighted
  zero. Randomness is paired: every model under seed s shares the init key and minibatch
  order of seed s, so the deletion is the only difference between models. Deleting nothing
  under the original's seed reproduces the original model.

  Args:
    model: the recommender.
    data: the training rows [N].
    deleted_rows: int[M, R] row indices into `data`, padded with -1.
    protocol: how to retrain (`RetrainProtocol`: scratch or warm, steps or `until`
      convergence, batch size, the S seeds, models per engine call C, rounded up to a
      multiple of the device count; with P processes each runs C / P of them on its share:
      `cfjax.train.distributed`). With `until`, the result carries each model's reached
      gradient norm and steps (`converged`, `control_converged`).
    original: the trained original model; required for `warm`.
    readout: (params, readout_arg) -> pytree, run on device inside the compiled step. Must be
      the same function object across calls, or the chunk recompiles.
    readout_args: a pytree whose leaves have leading axis M (e.g. each model's user), or None.
    vector_width: models vmapped together inside a chunk; a width below C runs the chunk as
      a compiled loop over vmapped groups. Default: `default_vector_width` (the whole chunk,
      except 1 for full-batch training on CPU, where XLA's batched gathers and scatters are
      slower than a loop; see docs/engine.md).
    control: also retrain once with nothing deleted under each seed (returned apart).
    control_args: the readout argument of the control (no leading M axis); required when
      `control` and `readout_args` are both given.
    progress: show a progress bar over chunks.
    description: the progress bar's label.

  Returns:
    A `RetrainResult` with readouts [M, S, ...] on the host.
  """
  deleted_rows = _checked_deletions(np.asarray(deleted_rows), data.num_rows)
  _check_protocol(protocol, original, vector_width)
  num_deletions = deleted_rows.shape[0]
  if control:
    deleted_rows, readout_args = _with_control(deleted_rows, readout_args, control_args)
  total = deleted_rows.shape[0]
  _check_readout_args(readout_args, total, num_deletions)
  plan = distributed.chunk_plan(total, protocol.models_per_call)  # this process's share
  deleted_rows, readout_args = _padded(deleted_rows, readout_args, plan.padded)
  if plan.num_processes > 1:
    distributed.check_same_everywhere("deletions, readout arguments or settings", deleted_rows,
                                      readout_args, protocol.seeds,
                                      [protocol.steps, protocol.batch_size, plan.chunk],
                                      protocol.kind)
  width = max(1, min(int(vector_width or default_vector_width(protocol.batch_size, plan.chunk)),
                     plan.chunk))
  start = time.perf_counter()
  local = _run_chunks(model, data, deleted_rows, readout_args, protocol, original, readout,
                      width, plan, min(plan.stop, total) - min(plan.start, total),
                      tqdm_options=dict(desc=description, disable=not progress))
  stacked = jax.tree.map(lambda leaf: leaf[:total], distributed.gather_shares(local, plan))
  seconds = time.perf_counter() - start
  chex.assert_tree_shape_prefix(stacked, (total, len(protocol.seeds)))
  return _unpacked(stacked, num_deletions, control, protocol.until is not None, seconds)


def _checked_deletions(deleted_rows: np.ndarray, num_rows: int) -> np.ndarray:
  """`deleted_rows` after one-line errors for a shape, dtype or index that cannot be right."""
  if deleted_rows.ndim != 2:
    raise ValueError(f"deleted_rows must be int[M, R] padded with -1; got shape "
                     f"{deleted_rows.shape}")
  if deleted_rows.size and not np.issubdtype(deleted_rows.dtype, np.integer):
    raise ValueError(f"deleted_rows must hold integer row indices, got dtype "
                     f"{deleted_rows.dtype} (a bool or float array would delete the wrong rows); "
                     "pass an int array padded with -1")
  if deleted_rows.shape[0] == 0:
    raise ValueError("deleted_rows has no rows (M = 0): nothing to retrain; pass at least one "
                     "deletion (a row of -1 deletes nothing)")
  if deleted_rows.size and deleted_rows.min() < -1:
    raise ValueError(f"deleted_rows holds {deleted_rows.min()}; row indices are >= 0 and "
                     "-1 is the only padding value")
  if deleted_rows.size and deleted_rows.max() >= num_rows:
    raise ValueError(f"deleted_rows holds row {deleted_rows.max()} but the data has only "
                     f"{num_rows} rows; pass row indices of the training data")
  return deleted_rows


def _check_protocol(protocol: RetrainProtocol, original: TrainState | None,
                    vector_width: int | None) -> None:
  """One-line errors for a protocol the engine cannot run."""
  if not isinstance(protocol, RetrainProtocol):
    raise ValueError(f"protocol must be a cfjax.train.RetrainProtocol, got "
                     f"{type(protocol).__name__}; pass RetrainProtocol(steps=..., seeds=...)")
  if protocol.kind == "rescore":
    raise ValueError("the rescore protocol retrains nothing (the edited input row is the "
                     "counterfactual); use cfjax.evaluate.rescore")
  if protocol.kind == "warm" and original is None:
    raise ValueError("the warm protocol continues from a trained model: pass original=")
  if vector_width is not None:
    check_int(vector_width, "vector_width", minimum=1)


def _with_control(deleted_rows: np.ndarray, readout_args: Any, control_args: Any):
  """The deletions and readout arguments with one deletion of nothing (the control) last."""
  deleted_rows = np.concatenate([deleted_rows, np.full((1, deleted_rows.shape[1]), -1)])
  if readout_args is None:
    return deleted_rows, None
  if control_args is None:
    raise ValueError("control=True with readout_args needs control_args= (the control's "
                     "readout argument, e.g. the user whose scores to read)")
  readout_args = jax.tree.map(lambda leaf, extra: np.concatenate(
      [np.asarray(leaf), np.asarray(extra)[None].astype(np.asarray(leaf).dtype)]),
                              readout_args, control_args)
  return deleted_rows, readout_args


def _check_readout_args(readout_args: Any, total: int, num_deletions: int) -> None:
  if readout_args is not None:
    for leaf in jax.tree.leaves(readout_args):
      if np.shape(leaf)[0] != total:
        raise ValueError(f"readout_args leaves need a leading axis of M={num_deletions}; "
                         f"got {np.shape(leaf)}")


def _padded(deleted_rows: np.ndarray, readout_args: Any, padded: int):
  """Pads to `padded` models with no-op deletions (their readout argument repeats the last),
  so every chunk has the same shape and the chunk function compiles once."""
  total = deleted_rows.shape[0]
  deleted_rows = np.concatenate(
      [deleted_rows, np.full((padded - total, deleted_rows.shape[1]), -1)]).astype(np.int32)
  if readout_args is not None:
    readout_args = jax.tree.map(
        lambda leaf: np.concatenate([np.asarray(leaf), np.repeat(np.asarray(leaf)[-1:],
                                                                 padded - total, 0)]),
        readout_args)
  return deleted_rows, readout_args


def _run_chunks(model, data, deleted_rows, readout_args, protocol, original, readout, width,
                plan, share, tqdm_options):
  """This process's chunks, one compiled call each, sharded over the local devices; chunk
  k-1's readout is fetched while chunk k runs. Returns the readouts [share, S, ...]."""
  mesh = _model_mesh()
  key_pairs = [seed_keys(seed) for seed in protocol.seeds]
  seed_key_pairs = (jnp.stack([pair[0] for pair in key_pairs]),
                    jnp.stack([pair[1] for pair in key_pairs]))
  start_state = original if protocol.kind == "warm" else None
  sharded = NamedSharding(mesh, PartitionSpec("models"))
  replicated = NamedSharding(mesh, PartitionSpec())
  data, seed_key_pairs, start_state = jax.device_put((data, seed_key_pairs, start_state),
                                                     replicated)
  static = (model, protocol.kind, protocol.steps, protocol.batch_size, readout, protocol.until,
            width)
  chunk = plan.chunk
  outputs, pending = [], None
  bar = tqdm(total=share, unit="model", leave=False, **tqdm_options)
  with jax.transfer_guard("disallow"):
    for index in range(plan.num_chunks):
      rows = slice(plan.start + index * chunk, plan.start + (index + 1) * chunk)
      chunk_rows = jax.device_put(deleted_rows[rows], sharded)
      chunk_args = (None if readout_args is None else
                    jax.device_put(jax.tree.map(lambda leaf: leaf[rows], readout_args), sharded))
      result = _retrain_chunk(*static, data, start_state, chunk_rows, chunk_args, seed_key_pairs)
      if pending is not None:  # fetch the previous chunk while this one runs
        outputs.append(jax.device_get(pending))
        bar.update(min(chunk, share - bar.n))
      pending = result
    outputs.append(jax.device_get(pending))
    bar.update(share - bar.n)
  bar.close()
  return jax.tree.map(lambda *parts: np.concatenate(parts), *outputs)


def _unpacked(stacked, num_deletions: int, control: bool, converging: bool,
              seconds: float) -> RetrainResult:
  """The readouts [M(+1), S, ...] as a `RetrainResult`: the control (last) set apart, and with
  convergence the reached gradient norms and steps apart from the readouts."""
  stacked, converged = stacked if converging else (stacked, None)
  if not control:
    return RetrainResult(outputs=stacked, control=None, seconds=seconds, converged=converged)
  first = lambda tree: jax.tree.map(lambda leaf: leaf[:num_deletions], tree)
  last = lambda tree: None if tree is None else jax.tree.map(lambda leaf: leaf[num_deletions],
                                                            tree)
  return RetrainResult(outputs=first(stacked), control=last(stacked), seconds=seconds,
                       converged=None if converged is None else first(converged),
                       control_converged=last(converged))
