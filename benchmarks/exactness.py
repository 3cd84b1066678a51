"""What "deleting nothing reproduces the original" means, measured (docs/architecture.md).

On the README's example (ML-100K, MF dim 16, 70/30 split, full batch): a retrain that deletes
nothing vs the original trained alone (`train_original`) and by the engine's own program
(`train_original_exact`), with one seed and with two seeds vmapped together. Prints the largest
parameter difference and how many users' top-10 lists differ, and saves JSON.

  CFJAX_DATA_DIR=../shared/data python -m benchmarks.exactness [--steps=200]
"""

from __future__ import annotations

import json
import pathlib

from absl import app, flags
import jax
import numpy as np

import cfjax
from cfjax.data import load, random_split
from cfjax.evaluate import environment_info
from cfjax.rank import scores_of, seen_rows, top_k
from cfjax.train import (RetrainProtocol, retrain, to_train_data, train_original,
                         train_original_exact)

OUTPUT = pathlib.Path(__file__).resolve().parent / "results" / "exactness.json"
FLAGS = flags.FLAGS


def max_difference(a, b) -> float:
  """The largest absolute difference between two parameter pytrees."""
  return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def main(argv):
  del argv
  train, _ = random_split(load("movielens-100k"), train_fraction=0.7, seed=0)
  model = cfjax.make_model("mf", train, dim=16)
  data, steps = to_train_data(train), FLAGS.steps
  users = np.arange(train.num_users)
  seen = seen_rows(train, users)
  top10 = lambda params: top_k(scores_of(model, params, users), seen, 10)
  deleted_rows = np.array([[10, 11], [5, -1], [-1, -1]])  # the README's three deletions
  spec = RetrainProtocol(steps=steps, seeds=(0,))
  originals = {"train_original (alone)": train_original(model, data, spec),
               "train_original_exact(chunk_size=3)": train_original_exact(
                   model, data, spec.with_chunk_size(3))}
  rows = []
  for seeds in ([0], [0, 1]):
    result = retrain(model, data, deleted_rows, spec.with_seeds(seeds), progress=False)
    nothing = jax.tree.map(lambda leaf: leaf[2, 0], result.outputs)
    for name, original in originals.items():
      rows.append({"original": name, "retrain_seeds": seeds,
                   "max_abs_param_difference": max_difference(original.params, nothing),
                   "users_with_another_top10": int((top10(original.params) != top10(nothing))
                                                   .any(axis=1).sum()),
                   "users": int(train.num_users)})
      print(f"{name:<36} vs no-deletion retrain, seeds={seeds}: max |d param| "
            f"{rows[-1]['max_abs_param_difference']:.3g}, top-10 differs for "
            f"{rows[-1]['users_with_another_top10']}/{train.num_users} users")
  OUTPUT.parent.mkdir(parents=True, exist_ok=True)
  OUTPUT.write_text(json.dumps({"benchmark": "exactness", "steps": steps, "rows": rows,
                                "environment": environment_info()}, indent=2) + "\n")
  print(f"wrote {OUTPUT}")


if __name__ == "__main__":
  flags.DEFINE_integer("steps", 200, "Full-batch Adam steps (the README's example: 200).")
  app.run(main)
