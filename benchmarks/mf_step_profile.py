"""What one full-batch MF step costs on this device, piece by piece, and scatter-free variants.

Issue 12, item 1: the backward pass of full-batch MF scatter-adds per-row gradients into the
user and item tables; the rows never change, so the scatter-adds can be rewritten as gathers
and segment reductions over layouts built once on the host. This benchmark times, on the
benchmark's MF workload (biased MF, dim 16, 70/30 MovieLens 100K split, N = 70,000 rows):

  * the gradient of Yao et al.'s eq. 1 loss by five formulations that give the same numbers:
    - autodiff: `jax.grad` of `weighted_loss` (what `fit` runs: gathers, scatter-adds);
    - scatter: the closed-form MF gradient with explicit scatter-adds;
    - segment_sorted: rows sorted by user (and permuted to item order for the item side),
      `jax.ops.segment_sum(..., indices_are_sorted=True)`;
    - csr_cumsum: rows sorted by user / item, each segment's sum as a difference of a cumulative
      sum at CSR offsets (no scatter at all; float32 cancellation error ~1e-7 of the total);
    - padded: per-row gradients gathered into [U, max degree] and [I, max degree] layouts and
      summed along the padded axis (no scatter; the padding is ~7x the rows here);
    each alone (one model), as a compiled `lax.map` over M models (the engine's CPU default)
    and vmapped over M models (the engine's accelerator default);
  * the pieces of the autodiff step: the gathers, the forward pass (gathers fused into the
    row reductions over D), the scatter-adds, the Adam update, alone and vmapped.

Figures are wall-clock and process CPU time (all threads), each the best of 3 runs of
`--iters` calls, compiles excluded; the 1-minute load average is recorded (other processes on
the CPU inflate wall time much more than CPU time). Run:

  CFJAX_DATA_DIR=/work/shared/data python -m benchmarks.mf_step_profile [--models=16]

It writes benchmarks/results/mf_step_profile.json. docs/engine.md holds the figures of record.
"""

from __future__ import annotations

import datetime
import os
import pathlib
import time
from typing import Callable

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import retrains_per_sec as bench
from cfjax.models.base import Recommender, weighted_loss

DEFAULT_OUTPUT = pathlib.Path(__file__).resolve().parent / "results" / "mf_step_profile.json"
FLAGS = flags.FLAGS
GradFn = Callable[[dict, jax.Array], dict]


def define_flags():
  flags.DEFINE_integer("models", 16, "M: models of the lax.map and vmap timings.")
  flags.DEFINE_integer("iters", 10, "Calls per timed run (single model); M-model runs use 2.")
  flags.DEFINE_string("data_dir", None, "Data directory (default: $CFJAX_DATA_DIR).")
  flags.DEFINE_string("output", str(DEFAULT_OUTPUT), "Where to write the JSON results.")


def _unpack(params):
  return (params["user_factors"], params["item_factors"], params["user_bias"],
          params["item_bias"], params["mean"])


def _pack(user_grads, item_grads, dim, mean_grad):
  """Params-shaped gradients from [U, D + 1] and [I, D + 1] (factors | bias) blocks."""
  return dict(user_factors=user_grads[:, :dim], item_factors=item_grads[:, :dim],
              user_bias=user_grads[:, dim], item_bias=item_grads[:, dim], mean=mean_grad)


def _row_terms(params, user, item, rating, weights, l2):
  """The closed-form per-row gradient terms of MF's eq. 1 loss.

  With c_n = -2 w_n (r_n - f(u_n, i_n)) / W and s_n = 2 lambda w_n / W (W = max(sum w, 1)),
  d/dp_u = sum_{n: u_n = u} c_n q_{i_n} + s_n p_u, and likewise for q_i, b_u, b_i; d/dmu = sum c_n.

  Returns:
    (user-side terms [N, D + 1], item-side terms [N, D + 1], d/dmu).
  """
  P, Q, bu, bi, mu = _unpack(params)
  p, q, b1, b2 = P[user], Q[item], bu[user], bi[item]
  prediction = mu + b1 + b2 + jnp.sum(p * q, -1)
  total = jnp.maximum(jnp.sum(weights), 1.0)
  c = -2.0 * weights * (rating - prediction) / total
  s = 2.0 * l2 * weights / total
  user_terms = jnp.concatenate([c[:, None] * q + s[:, None] * p, (c + s * b1)[:, None]], 1)
  item_terms = jnp.concatenate([c[:, None] * p + s[:, None] * q, (c + s * b2)[:, None]], 1)
  return user_terms, item_terms, jnp.sum(c)


def gradient_variants(model: Recommender, user: np.ndarray, item: np.ndarray,
                      rating: np.ndarray) -> dict[str, tuple[Callable, GradFn]]:
  """name -> (to_layout: weights [N] in row order -> the variant's weights, grad_fn).

  Every grad_fn(params, layout_weights) returns the gradient of `weighted_loss` (eq. 1) of
  the biased MF `model` on the rows (user, item, rating) [N] with those weights.
  """
  num_users, num_items, dim = model.num_users, model.num_items, model.hparams["dim"]
  l2 = model.hparams["l2"]
  u, i, r = (jnp.asarray(user, jnp.int32), jnp.asarray(item, jnp.int32),
             jnp.asarray(rating, jnp.float32))
  by_user = np.argsort(user, kind="stable")  # row order sorted by user
  us, is_, rs = u[by_user], i[by_user], r[by_user]
  to_item = np.argsort(np.asarray(item)[by_user], kind="stable")  # user-sorted -> item order
  items_sorted = jnp.asarray(np.asarray(item)[by_user][to_item], jnp.int32)
  to_item_j = jnp.asarray(to_item, jnp.int32)
  user_offsets = np.concatenate([[0], np.cumsum(np.bincount(user, minlength=num_users))])
  item_offsets = np.concatenate([[0], np.cumsum(np.bincount(item, minlength=num_items))])
  sorted_layout = lambda w: jnp.asarray(w)[by_user]

  def autodiff(params, weights):
    return jax.grad(lambda p: weighted_loss(model, p, u, i, r, weights))(params)

  def scatter(params, weights):
    ut, it, dmu = _row_terms(params, u, i, r, weights, l2)
    return _pack(jnp.zeros((num_users, dim + 1)).at[u].add(ut),
                 jnp.zeros((num_items, dim + 1)).at[i].add(it), dim, dmu)

  def segment_sorted(params, weights):
    ut, it, dmu = _row_terms(params, us, is_, rs, weights, l2)
    return _pack(jax.ops.segment_sum(ut, us, num_users, indices_are_sorted=True),
                 jax.ops.segment_sum(it[to_item_j], items_sorted, num_items,
                                     indices_are_sorted=True), dim, dmu)

  uo, io = jnp.asarray(user_offsets, jnp.int32), jnp.asarray(item_offsets, jnp.int32)

  def csr_sum(x, offsets):
    cumulative = jnp.concatenate([jnp.zeros((1, x.shape[1]), x.dtype), jnp.cumsum(x, 0)])
    return cumulative[offsets[1:]] - cumulative[offsets[:-1]]

  def csr_cumsum(params, weights):
    ut, it, dmu = _row_terms(params, us, is_, rs, weights, l2)
    return _pack(csr_sum(ut, uo), csr_sum(it[to_item_j], io), dim, dmu)

  num_rows = len(user)
  user_pad = _padded_index(np.asarray(user)[by_user], user_offsets, np.arange(num_rows),
                           num_users, num_rows)
  item_pad = _padded_index(np.asarray(item)[by_user][to_item], item_offsets, to_item,
                           num_items, num_rows)
  user_pad, item_pad = jnp.asarray(user_pad), jnp.asarray(item_pad)

  def padded(params, weights):
    ut, it, dmu = _row_terms(params, us, is_, rs, weights, l2)
    zero = jnp.zeros((1, dim + 1))
    return _pack(jnp.concatenate([ut, zero])[user_pad].sum(1),
                 jnp.concatenate([it, zero])[item_pad].sum(1), dim, dmu)

  return {"autodiff": (jnp.asarray, autodiff), "scatter": (jnp.asarray, scatter),
          "segment_sorted": (sorted_layout, segment_sorted),
          "csr_cumsum": (sorted_layout, csr_cumsum), "padded": (sorted_layout, padded)}


def _padded_index(sorted_ids, offsets, source_rows, num_segments, num_rows):
  """int32[num_segments, max degree]: the source row of each segment's k-th entry; num_rows
  (a zero row) where a segment has fewer entries."""
  degree = np.diff(offsets)
  index = np.full((num_segments, max(int(degree.max()), 1)), num_rows, np.int32)
  position = np.arange(len(sorted_ids)) - offsets[sorted_ids]
  index[sorted_ids, position] = source_rows
  return index


def best_seconds(fn, *args, iters: int = 10, runs: int = 3) -> tuple[float, float]:
  """(wall seconds, CPU seconds) per call: best of `runs` runs of `iters` calls (compiled and
  warmed first). CPU seconds are the process's, summed over its threads: on a CPU shared
  with other processes they move much less than wall time, so compare pieces by them."""
  jax.block_until_ready(fn(*args))
  best_wall = best_cpu = float("inf")
  for _ in range(runs):
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(iters):
      out = fn(*args)
    jax.block_until_ready(out)
    best_wall = min(best_wall, (time.perf_counter() - wall) / iters)
    best_cpu = min(best_cpu, (time.process_time() - cpu) / iters)
  return best_wall, best_cpu


def stacked(tree, num_models: int):
  return jax.tree.map(lambda leaf: jnp.stack([leaf] * num_models), tree)


def time_variants(model, params, weights, variants, num_models: int, iters: int) -> list[dict]:
  """ms per model of each variant: one model, lax.map over M, vmap over M."""
  records = []
  for name, (to_layout, grad_fn) in variants.items():
    w = to_layout(weights)
    many_params, many_w = stacked(params, num_models), stacked(w, num_models)
    one, one_cpu = best_seconds(jax.jit(grad_fn), params, w, iters=iters)
    mapped, mapped_cpu = best_seconds(
        jax.jit(lambda p, w: jax.lax.map(lambda a: grad_fn(*a), (p, w))), many_params, many_w,
        iters=2)
    vmapped, vmapped_cpu = best_seconds(jax.jit(jax.vmap(grad_fn)), many_params, many_w,
                                        iters=2)
    records.append(dict(variant=name, one_ms=one * 1e3, one_cpu_ms=one_cpu * 1e3,
                        lax_map_ms_per_model=mapped * 1e3 / num_models,
                        lax_map_cpu_ms_per_model=mapped_cpu * 1e3 / num_models,
                        vmap_ms_per_model=vmapped * 1e3 / num_models,
                        vmap_cpu_ms_per_model=vmapped_cpu * 1e3 / num_models, M=num_models,
                        load_avg_1m=os.getloadavg()[0]))
    r = records[-1]
    print(f"  {name:<15} wall/cpu ms: one {one * 1e3:7.3f} / {one_cpu * 1e3:7.3f}   "
          f"lax.map {r['lax_map_ms_per_model']:7.3f} / {r['lax_map_cpu_ms_per_model']:7.3f}   "
          f"vmap {r['vmap_ms_per_model']:7.3f} / {r['vmap_cpu_ms_per_model']:7.3f} per model",
          flush=True)
  return records


def time_pieces(model, params, weights, user, item, num_models: int, iters: int) -> list[dict]:
  """ms of each piece of the autodiff step, alone and vmapped over M (per model)."""
  u, i = jnp.asarray(user, jnp.int32), jnp.asarray(item, jnp.int32)
  rating = jnp.zeros(u.shape, jnp.float32) + 3.5
  P, Q = params["user_factors"], params["item_factors"]
  rows = jax.random.normal(jax.random.PRNGKey(1), (len(user), P.shape[1]))
  optimizer = model.optimizer
  opt_state = optimizer.init(params)
  grad = lambda p, w: jax.grad(lambda p: weighted_loss(model, p, u, i, rating, w))(p)
  grads = jax.jit(grad)(params, weights)
  pieces = {
      "gather P[user] [N, D]": (lambda P: P[u] + 0.0, (P,)),
      "gather Q[item] [N, D]": (lambda Q: Q[i] + 0.0, (Q,)),
      "forward <p_u, q_i> (gathers fused into the row sums)":
          (lambda P, Q: jnp.sum(P[u] * Q[i], -1), (P, Q)),
      "forward loss value (eq. 1)":
          (lambda p, w: weighted_loss(model, p, u, i, rating, w), (params, weights)),
      "scatter-add [N, D] -> users": (lambda x: jnp.zeros(P.shape).at[u].add(x), (rows,)),
      "scatter-add [N, D] -> items": (lambda x: jnp.zeros(Q.shape).at[i].add(x), (rows,)),
      "gradient (autodiff, forward + backward)": (grad, (params, weights)),
      "Adam update": (lambda g, s, p: optimizer.update(g, s, p), (grads, opt_state, params)),
  }
  records = []
  for name, (fn, args) in pieces.items():
    one, one_cpu = best_seconds(jax.jit(fn), *args, iters=iters)
    vmapped, vmapped_cpu = best_seconds(jax.jit(jax.vmap(fn)), *stacked(args, num_models),
                                        iters=2)
    records.append(dict(piece=name, one_ms=one * 1e3, one_cpu_ms=one_cpu * 1e3,
                        vmap_ms_per_model=vmapped * 1e3 / num_models,
                        vmap_cpu_ms_per_model=vmapped_cpu * 1e3 / num_models, M=num_models,
                        load_avg_1m=os.getloadavg()[0]))
    print(f"  {name:<55} wall/cpu ms: one {one * 1e3:7.3f} / {one_cpu * 1e3:7.3f}   vmap "
          f"{vmapped * 1e3 / num_models:7.3f} / {vmapped_cpu * 1e3 / num_models:7.3f} per model",
          flush=True)
  return records


def main(argv):
  del argv
  data_dir = FLAGS.data_dir or os.environ.get("CFJAX_DATA_DIR")
  workload, = bench.load_workloads(["mf-ml100k"], mf_steps=50, ncf_steps=1, data_dir=data_dir)
  model = workload.model
  params = model.init(jax.random.PRNGKey(0))
  weights = np.ones(workload.num_rows, np.float32)
  weights[bench.random_deletions(workload.num_rows, 1)[0]] = 0.0
  env = bench.environment()
  print(f"devices: {env['device']['jax_devices']}; load {os.getloadavg()[0]:.1f}; "
        f"N={workload.num_rows:,} U={model.num_users} I={model.num_items}")
  variants = gradient_variants(model, workload.user, workload.item, workload.rating)
  reference = jax.jit(variants["autodiff"][1])(params, jnp.asarray(weights))
  deviation = {}
  for name, (to_layout, grad_fn) in variants.items():
    value = jax.jit(grad_fn)(params, to_layout(weights))
    deviation[name] = max(float(jnp.max(jnp.abs(a - b))) for a, b in
                          zip(jax.tree.leaves(value), jax.tree.leaves(reference)))
  print("gradient formulations (ms per model):")
  variant_records = time_variants(model, params, jnp.asarray(weights), variants, FLAGS.models,
                                   FLAGS.iters)
  for record in variant_records:
    record["max_abs_diff_vs_autodiff"] = deviation[record["variant"]]
  print("pieces of the autodiff step:")
  piece_records = time_pieces(model, params, jnp.asarray(weights), workload.user,
                              workload.item, FLAGS.models, FLAGS.iters)
  payload = dict(benchmark="mf_step_profile",
                 timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(
                     timespec="seconds"), **env, sizes=workload.sizes(),
                 variants=variant_records, pieces=piece_records,
                 flags=dict(models=FLAGS.models, iters=FLAGS.iters, data_dir=data_dir))
  print(f"wrote {bench.write_json(payload, FLAGS.output)}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
