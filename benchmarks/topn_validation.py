"""How the top-N presets were chosen: a small grid on a VALIDATION hold-out, never the test.

  CFJAX_DATA_DIR=../shared/data python -m benchmarks.topn_validation [--dataset=movielens-100k]

The test split of `experiments.topn` (20 % of each user's rows, seed 0) is set aside; the
remaining training rows are split again (20 % per user, seed 1) and each grid point is trained
on the inner part and scored by Recall@20 on the validation part. Writes
benchmarks/results/topn_validation_<dataset>.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pathlib
import time

import jax

from cfjax import data as cfdata
from cfjax.evaluate.topn import model_scores, topn_metrics
from cfjax.models import make_model
from cfjax.workflows.topn import implicit
from cfjax.train import RetrainProtocol, to_train_data, train_original

GRIDS = {
    "ease": {"steps": [1], "l2": [50.0, 100.0, 200.0, 500.0, 1000.0]},
    "bpr": {"steps": [800], "learning_rate": [0.01, 0.003], "l2": [1e-4, 1e-3], "dim": [64]},
    "lightgcn": {"steps": [400], "learning_rate": [0.01], "l2": [1e-4, 1e-3], "dim": [64],
                 "num_layers": [3]},
}


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--dataset", default="movielens-100k")
  parser.add_argument("--models", default="ease,bpr,lightgcn")
  args = parser.parse_args()
  data = implicit(cfdata.load(args.dataset), None)
  train, _ = cfdata.per_user_holdout(data, holdout=0.2, seed=0)
  inner, validation = cfdata.per_user_holdout(train, holdout=0.2, seed=1)
  rows = []
  for name in args.models.split(","):
    grid = GRIDS[name]
    keys = list(grid)
    for values in itertools.product(*grid.values()):
      point = dict(zip(keys, values))
      steps = point.pop("steps")
      start = time.perf_counter()
      model = make_model(name, inner, **point)
      state = jax.block_until_ready(train_original(model, to_train_data(inner),
                                                   RetrainProtocol(steps=steps, seeds=(0,))))
      metrics = topn_metrics(model_scores(model, state.params), inner, validation, [20])
      row = {"model": name, "steps": steps, **point, "val_recall@20": metrics["recall@20"],
             "val_ndcg@20": metrics["ndcg@20"], "seconds": time.perf_counter() - start}
      print(json.dumps(row), flush=True)
      rows.append(row)
  out = pathlib.Path("benchmarks/results") / f"topn_validation_{cfdata.canonical_name(args.dataset)}.json"
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(rows, indent=1))
  print(f"wrote {out}")


if __name__ == "__main__":
  main()
