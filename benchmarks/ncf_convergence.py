"""How many steps ACCENT's NCF needs to converge from its trained original (issue 12).

Loads (or trains, once: `cfjax.papers.common.trained_original`) ACCENT's NeuMF on its ML-100K
data after the paper's 120,000 minibatch Adam steps, then continues it on the FULL batch with
nothing deleted (the noise-floor model of a converged verification), with

* L-BFGS (optax, zoom line search; `cfjax.train.Convergence(method="lbfgs")`), and
* Adam (the model's own optimizer and its trained state, full batch),

and reports, for each tolerance, the steps until the gradient norm ||grad L(theta)||_2 first
fell below it (or "not reached" within --max_steps) and the wall time. Both runs are
deterministic, so the run to a tighter tolerance passes through every looser one: the steps of
each tolerance are a prefix of one trajectory. Run:

  python -m benchmarks.ncf_convergence [--max_steps=4000]

Writes benchmarks/results/ncf_convergence.json. docs/engine.md holds the figures of record.
"""
import argparse
import json
import os
import pathlib
import time

import jax
import numpy as np

from cfjax import data as cfdata
from cfjax.models import make_model
from cfjax.papers.accent import PAPER_STEPS
from cfjax.papers.common import trained_original
from cfjax.train import Convergence, TrainSpec, to_train_data
from cfjax.train.fit import fit_to_convergence
from cfjax.util import peak_rss, write_json
from cfjax.evaluate.results import provenance

TOLERANCES = (0.2, 0.1, 0.05, 0.03, 0.02, 0.01, 0.005)
RESULTS = pathlib.Path(__file__).parent / "results" / "ncf_convergence.json"


def steps_to(model, data, weights, state, method: str, tol: float, max_steps: int) -> dict:
  """One converged retraining of the original; its steps, reached norm and seconds."""
  until = Convergence(tol=tol, max_steps=max_steps, method=method)
  run = jax.jit(lambda s: fit_to_convergence(model, data, weights, state=s, until=until)[1])
  run = run.lower(state).compile()  # compile outside the clock
  start = time.perf_counter()
  reached = jax.block_until_ready(run(state))
  return {"method": method, "tol": tol, "steps": int(reached.steps),
          "grad_norm": float(reached.grad_norm), "reached": bool(reached.grad_norm < tol),
          "seconds": round(time.perf_counter() - start, 2)}


def main(max_steps: int, cache_dir: str) -> dict:
  train = cfdata.load("accent-ml100k", data_dir=os.environ.get("CFJAX_DATA_DIR"))
  model = make_model("ncf", train)
  spec = TrainSpec(steps=PAPER_STEPS, batch_size=1246, seed=0)
  original, training = trained_original(model, train, spec, cache_dir=cache_dir)
  data = to_train_data(train)
  weights = np.ones(len(train.user), np.float32)
  start = steps_to(model, data, weights, original, "lbfgs", 1e9, 1)
  rows = []
  for method in ("lbfgs", "adam"):
    for tol in TOLERANCES:
      row = steps_to(model, data, weights, original, method, tol, max_steps)
      print(json.dumps(row), flush=True)
      rows.append(row)
      if not row["reached"]:  # tighter tolerances cannot be reached either
        break
  result = {"rows": len(train.user), "original_grad_norm": start["grad_norm"],
            "original": {"steps": spec.steps, "batch_size": spec.batch_size,
                         "loaded": training["loaded"], "seconds": training["seconds"]},
            "max_steps": max_steps, "runs": rows, **peak_rss(), **provenance()}
  write_json(RESULTS, result)
  return result


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--max_steps", type=int, default=4000)
  parser.add_argument("--cache_dir", default="results/cache/originals")
  args = parser.parse_args()
  print(json.dumps({k: v for k, v in main(args.max_steps, args.cache_dir).items()
                    if k != "runs"}))
