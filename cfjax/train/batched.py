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
from typing import Any, Callable, Literal, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from cfjax.models.base import Recommender
from cfjax.train import distributed
from cfjax.train.fit import (Converged, Convergence, TrainData, TrainState, check_int,
                             deleted_weights, fit, fit_to_convergence, init_state, seed_keys)
from cfjax.types import Params

Protocol = Literal["scratch", "warm"]
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


def _one_model(model, protocol, steps, batch_size, readout, until, data, start_state,
               deleted_rows, readout_arg, seed_key_pair):
  """Retrains one (deletion, seed) and reads it out. `fit` (or `fit_to_convergence`) for
  ONE model; with `until`, returns (readout, `Converged`)."""
  init_key, order_key = seed_key_pair
  weights = deleted_weights(deleted_rows, data.num_rows)
  state = init_state(model, init_key) if protocol == "scratch" else start_state
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


def train_original_exact(model: Recommender, data: TrainData, *, seed: int, steps: int,
                         batch_size: int | None = None, chunk_size: int = 64) -> TrainState:
  """Trains the original model through the engine's own compiled chunk.

  XLA may reassociate float32 sums differently for different batch shapes, so a model
  trained alone and the same model trained inside a vmapped chunk agree only to ~1e-7.
  Trained this way, the original is bitwise equal to every retrain in `retrain(...,
  chunk_size=chunk_size)` that deletes nothing under `seed`, in any chunk of the full size
  (the cost is one chunk: `retrain` shrinks a chunk to M < chunk_size models, and a vmapped
  one-model chunk is another program, which drifted paired NCF verification by ~3e-7 and
  flipped 14 % of top-1s after 600 steps).
  """
  result = retrain(model, data, np.full((chunk_size, 1), -1), seeds=[seed], steps=steps,
                   batch_size=batch_size, readout=state_readout, chunk_size=chunk_size,
                   progress=False)
  return jax.tree.map(lambda leaf: jnp.asarray(leaf[0, 0]), result.outputs)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5, 6))
def _retrain_chunk(model, protocol, steps, batch_size, readout, until, vector_width, data,
                   start_state, deleted_rows, readout_args, seed_key_pairs):
  """[C] deletions x [S] seeds -> readouts [C, S, ...]. The engine's only vmap site.

  The C models of a chunk are vmapped `vector_width` at a time; `lax.map` runs the groups one
  after another inside the same compiled call (vector_width=C: one vmap over the whole chunk).
  """
  one = functools.partial(_one_model, model, protocol, steps, batch_size, readout, until, data,
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


def retrain(model: Recommender, data: TrainData, deleted_rows, *, seeds: Sequence[int],
            steps: int, protocol: Protocol = "scratch", batch_size: int | None = None,
            original: TrainState | None = None, readout: Readout = params_readout,
            readout_args: Any = None, chunk_size: int = 64, vector_width: int | None = None,
            control: bool = False, control_args: Any = None,
            until: Convergence | None = None,
            progress: bool = True, description: str = "retraining") -> RetrainResult:
  """Retrains one counterfactual model per deletion and seed (Yao et al., eq. 1).

  Model m under seed s minimises the training loss with rows `deleted_rows[m]` weighted
  zero. Randomness is paired: every model under seed s shares the init key and minibatch
  order of seed s, so the deletion is the only difference between models. Deleting nothing
  under the original's seed reproduces the original model.

  Args:
    model: the recommender.
    data: the training rows [N].
    deleted_rows: int[M, R] row indices into `data`, padded with -1.
    seeds: S integer seeds. `scratch`: a seed fixes the init and the minibatch order.
      `warm`: a seed fixes only the minibatch order of the continued training.
    steps: optimizer steps per retrain (for `warm`: steps after the original's).
    protocol: "scratch" (train from a fresh init) or "warm" (continue from `original`'s
      parameters AND optimizer state, as ACCENT's verification does).
    batch_size: rows per step, or None for full batch.
    original: the trained original model; required for `warm`.
    readout: (params, readout_arg) -> pytree, run on device inside the compiled step. Must be
      the same function object across calls, or the chunk recompiles.
    readout_args: a pytree whose leaves have leading axis M (e.g. each model's user), or None.
    chunk_size: models per compiled call C (rounded up to a multiple of the device count;
      with P processes each runs C / P of them on its share: `cfjax.train.distributed`).
    vector_width: models vmapped together inside a chunk; a width below C runs the chunk as
      a compiled loop over vmapped groups. Default: `default_vector_width` (the whole chunk,
      except 1 for full-batch training on CPU, where XLA's batched gathers and scatters are
      slower than a loop; see docs/engine.md).
    control: also retrain once with nothing deleted under each seed (returned apart).
    control_args: the readout argument of the control (no leading M axis); required when
      `control` and `readout_args` are both given.
    until: train each model to convergence (`Convergence`: gradient norm below a tolerance,
      at most max_steps, full batch only) instead of for `steps`; the result then carries
      each model's reached gradient norm and steps (`converged`, `control_converged`).
    progress: show a progress bar over chunks.
    description: the progress bar's label.

  Returns:
    A `RetrainResult` with readouts [M, S, ...] on the host.
  """
  deleted_rows = np.asarray(deleted_rows)
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
  if deleted_rows.size and deleted_rows.max() >= data.num_rows:
    raise ValueError(f"deleted_rows holds row {deleted_rows.max()} but the data has only "
                     f"{data.num_rows} rows; pass row indices of the training data")
  if protocol not in ("scratch", "warm"):
    raise ValueError(f"unknown protocol {protocol!r}; choose 'scratch' or 'warm'")
  if protocol == "warm" and original is None:
    raise ValueError("the warm protocol continues from a trained model: pass original=")
  seeds = [check_int(seed, "seed") for seed in seeds]
  if not seeds:
    raise ValueError("pass at least one seed")
  check_int(steps, "steps", minimum=0)
  check_int(chunk_size, "chunk_size", minimum=1)
  if until is not None and batch_size is not None:
    raise ValueError("training to convergence needs full batches (a minibatch gradient never "
                     "vanishes); pass batch_size=None with until=")
  if batch_size is not None:
    check_int(batch_size, "batch_size", minimum=1)
  if vector_width is not None:
    check_int(vector_width, "vector_width", minimum=1)

  num_deletions = deleted_rows.shape[0]
  if control:
    deleted_rows = np.concatenate([deleted_rows, np.full((1, deleted_rows.shape[1]), -1)])
    if readout_args is not None:
      if control_args is None:
        raise ValueError("control=True with readout_args needs control_args= (the control's "
                         "readout argument, e.g. the user whose scores to read)")
      readout_args = jax.tree.map(lambda leaf, extra: np.concatenate(
          [np.asarray(leaf), np.asarray(extra)[None].astype(np.asarray(leaf).dtype)]),
                                  readout_args, control_args)
  total = deleted_rows.shape[0]
  if readout_args is not None:
    for leaf in jax.tree.leaves(readout_args):
      if np.shape(leaf)[0] != total:
        raise ValueError(f"readout_args leaves need a leading axis of M={num_deletions}; "
                         f"got {np.shape(leaf)}")

  mesh = _model_mesh()
  plan = distributed.chunk_plan(total, chunk_size)  # this process's share (all, on one)
  chunk, padded = plan.chunk, plan.padded
  deleted_rows = np.concatenate(
      [deleted_rows, np.full((padded - total, deleted_rows.shape[1]), -1)]).astype(np.int32)
  if readout_args is not None:
    readout_args = jax.tree.map(
        lambda leaf: np.concatenate([np.asarray(leaf), np.repeat(np.asarray(leaf)[-1:],
                                                                 padded - total, 0)]),
        readout_args)

  if plan.num_processes > 1:
    distributed.check_same_everywhere("deletions, readout arguments or settings", deleted_rows,
                                      readout_args, seeds, [steps, batch_size, chunk_size],
                                      protocol)
  width = max(1, min(int(vector_width or default_vector_width(batch_size, chunk)), chunk))
  key_pairs = [seed_keys(seed) for seed in seeds]
  seed_key_pairs = (jnp.stack([pair[0] for pair in key_pairs]),
                    jnp.stack([pair[1] for pair in key_pairs]))
  start_state = original if protocol == "warm" else None
  sharded = NamedSharding(mesh, PartitionSpec("models"))
  replicated = NamedSharding(mesh, PartitionSpec())
  data, seed_key_pairs, start_state = jax.device_put((data, seed_key_pairs, start_state),
                                                     replicated)

  start = time.perf_counter()
  outputs, pending = [], None
  share = min(plan.stop, total) - min(plan.start, total)  # real models of this process
  bar = tqdm(total=share, desc=description, unit="model", disable=not progress, leave=False)
  with jax.transfer_guard("disallow"):
    for index in range(plan.num_chunks):
      rows = slice(plan.start + index * chunk, plan.start + (index + 1) * chunk)
      chunk_rows = jax.device_put(deleted_rows[rows], sharded)
      chunk_args = (None if readout_args is None else
                    jax.device_put(jax.tree.map(lambda leaf: leaf[rows], readout_args), sharded))
      result = _retrain_chunk(model, protocol, steps, batch_size, readout, until, width, data,
                              start_state, chunk_rows, chunk_args, seed_key_pairs)
      if pending is not None:  # fetch the previous chunk while this one runs
        outputs.append(jax.device_get(pending))
        bar.update(min(chunk, share - bar.n))
      pending = result
    outputs.append(jax.device_get(pending))
    bar.update(share - bar.n)
  bar.close()
  local = jax.tree.map(lambda *parts: np.concatenate(parts), *outputs)
  stacked = jax.tree.map(lambda leaf: leaf[:total], distributed.gather_shares(local, plan))
  seconds = time.perf_counter() - start

  chex.assert_tree_shape_prefix(stacked, (total, len(seeds)))
  stacked, converged = stacked if until is not None else (stacked, None)
  first = lambda tree: jax.tree.map(lambda leaf: leaf[:num_deletions], tree)
  last = lambda tree: None if tree is None else jax.tree.map(lambda leaf: leaf[num_deletions],
                                                            tree)
  if control:
    return RetrainResult(outputs=first(stacked), control=last(stacked), seconds=seconds,
                         converged=None if converged is None else first(converged),
                         control_converged=last(converged))
  return RetrainResult(outputs=stacked, control=None, seconds=seconds, converged=converged)
