r"""LCER over all (user, item) pairs in one vmapped computation vs a per-pair loop of the same code.

  python -m benchmarks.lcer_vmap --lcer_bench_pairs=100 --lcer_bench_steps=300

Both sides run `cfjax.explain.lcer.make_lcer` on the same Mult-VAE (random weights, ML-100K
sized, or trained if --lcer_bench_train_epochs > 0) and the same pairs: the batched side calls
the jitted explainer once on all P pairs, the loop side calls the same jitted explainer P times
on one pair each (compiled once, compile time excluded on both sides). Writes JSON to
benchmarks/results/lcer_vmap.json.
"""

from __future__ import annotations

import json
import pathlib
import time

import jax
import numpy as np


def define_flags():
  from absl import flags
  flags.DEFINE_integer("lcer_bench_pairs", 100, "Pairs to explain.")
  flags.DEFINE_integer("lcer_bench_steps", 300, "LCER steps per pair.")
  flags.DEFINE_integer("lcer_bench_items", 1408, "Items (ML-100K after the Mult-VAE split).")
  flags.DEFINE_integer("lcer_bench_history", 48, "Interacted items per pair (ML-100K mean 49).")
  flags.DEFINE_integer("lcer_bench_loop_pairs", 20, "Pairs timed in the loop (extrapolated).")
  flags.DEFINE_string("lcer_bench_output", "benchmarks/results/lcer_vmap.json", "JSON output.")


def run(pairs: int, steps: int, items: int, history: int, loop_pairs: int) -> dict:
  from cfjax.explain.lcer import make_lcer, pair_keys
  from cfjax.models.multvae import make_multvae
  model = make_multvae(items)
  params = model.init(jax.random.key(0))
  rng = np.random.default_rng(0)
  hist = np.stack([np.sort(rng.choice(items, history, replace=False)) for _ in range(pairs)])
  hist = hist.astype(np.int32)
  mask = np.ones_like(hist, bool)
  targets = rng.integers(0, items, pairs).astype(np.int32)
  margins = np.full(pairs, 0.0, np.float32)
  keys = pair_keys(jax.random.key(1), pairs)
  explain = make_lcer(model.history_item_score, lam=0.01, alpha=0.1, steps=steps)
  block = lambda out: jax.tree.map(lambda a: a.block_until_ready(), out)
  block(explain(params, hist, mask, targets, margins, keys))  # compile
  t0 = time.perf_counter()
  batched = block(explain(params, hist, mask, targets, margins, keys))
  vmapped = time.perf_counter() - t0
  block(explain(params, hist[:1], mask[:1], targets[:1], margins[:1], keys[:1]))  # compile
  loop_pairs = min(loop_pairs, pairs)
  t0 = time.perf_counter()
  for p in range(loop_pairs):
    one = block(explain(params, hist[p:p + 1], mask[p:p + 1], targets[p:p + 1],
                        margins[p:p + 1], keys[p:p + 1]))
  loop = (time.perf_counter() - t0) * pairs / loop_pairs
  same = bool(np.array_equal(np.asarray(one.removed[0]), np.asarray(batched.removed[loop_pairs - 1])))
  return {"pairs": pairs, "steps": steps, "items": items, "history": history,
          "vmapped_seconds": vmapped, "loop_seconds_extrapolated": loop,
          "loop_pairs_timed": loop_pairs, "speedup": loop / vmapped,
          "last_timed_pair_identical": same, "device": jax.devices()[0].device_kind}


def main(argv):
  del argv
  from absl import flags
  f = flags.FLAGS
  out = run(f.lcer_bench_pairs, f.lcer_bench_steps, f.lcer_bench_items, f.lcer_bench_history,
            f.lcer_bench_loop_pairs)
  path = pathlib.Path(f.lcer_bench_output)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(out, indent=2) + "\n")
  print(json.dumps(out, indent=2))


if __name__ == "__main__":
  from absl import app
  define_flags()
  app.run(main)
