"""How many steps a trained original needs to converge, by optimizer (issue 12, item 3).

Loads (or trains, once: `cfjax.pipeline.trained_original`) the original of
* --model=ncf: ACCENT's NeuMF on its ML-100K data after the paper's 120,000 minibatch Adam
  steps (accent_table1's original), or
* --model=mf: the benchmark's MF on MovieLens 100K (70 % split, 300 full-batch Adam steps,
  cfjax/experiments/configs/benchmark.py),
then continues it on the FULL batch, with nothing deleted (the control of a converged
verification) and with --delete rows of one user deleted (a counterfactual), with

* L-BFGS (optax, zoom line search; `cfjax.train.Convergence(method="lbfgs")`), and
* Adam (the model's own optimizer and its trained state, full batch),

and reports, for each tolerance, the steps until the gradient norm ||grad L(theta)||_2 first
fell below it (or "not reached" within --max_steps) and the wall time of one model. The runs
are deterministic, so the run to a tighter tolerance passes through every looser one: the
steps of each tolerance are a prefix of one trajectory. Run:

  python -m benchmarks.convergence_steps --model=ncf|mf [--max_steps=4000]

Writes benchmarks/results/convergence_<model>.json. docs/engine.md holds the figures of record.
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
from cfjax.pipeline import trained_original
from cfjax.train import Convergence, RetrainProtocol, to_train_data
from cfjax.train.fit import fit_to_convergence
from cfjax.util import peak_rss, write_json
from cfjax.evaluate.results import provenance

# gradient norms of the mean loss: NCF's original sits at 0.29, MF's at 8e-6 (deleting a user's
# rows moves it to ~1e-4)
TOLERANCES = {"ncf": (0.2, 0.1, 0.05, 0.03, 0.02, 0.01, 0.005),
              "mf": (1e-5, 3e-6, 1e-6)}
RESULTS = pathlib.Path(__file__).parent / "results"


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


def original_of(name: str, cache_dir: str):
  """The model, its training data and its trained original (cached)."""
  data_dir = os.environ.get("CFJAX_DATA_DIR")
  if name == "ncf":
    train = cfdata.load("accent-ml100k", data_dir=data_dir)
    model = make_model("ncf", train)
    spec = RetrainProtocol(steps=PAPER_STEPS, batch_size=1246, seeds=(0,))
  else:
    train, _ = cfdata.random_split(cfdata.load("movielens-100k", data_dir=data_dir),
                                   train_fraction=0.7, seed=0)
    model = make_model("mf", train)
    spec = RetrainProtocol(steps=300, batch_size=None, seeds=(0,))
  original, training = trained_original(model, train, spec, cache_dir=cache_dir)
  return model, train, spec, original, training


def main(name: str, max_steps: int, delete: int, cache_dir: str) -> dict:
  model, train, spec, original, training = original_of(name, cache_dir)
  data = to_train_data(train)
  control = np.ones(len(train.user), np.float32)
  deleted = control.copy()
  user = int(np.argmax(np.asarray(train.user_counts) > 2 * delete))  # first user with history
  deleted[np.flatnonzero(np.asarray(train.user) == user)[:delete]] = 0.0
  result = {"model": name, "rows": len(train.user), "deleted_rows": delete, "user": user,
            "original": {"steps": spec.steps, "batch_size": spec.batch_size,
                         "loaded": training["loaded"], "seconds": training["seconds"]},
            "max_steps": max_steps, "runs": []}
  for what, weights in (("control", control), ("deleted", deleted)):
    start = steps_to(model, data, weights, original, "lbfgs", 1e9, 1)
    result[f"{what}_start_grad_norm"] = start["grad_norm"]
    for method in ("lbfgs", "adam"):
      for tol in TOLERANCES[name]:
        row = {"weights": what, **steps_to(model, data, weights, original, method, tol,
                                          max_steps)}
        print(json.dumps(row), flush=True)
        result["runs"].append(row)
        if not row["reached"]:  # tighter tolerances cannot be reached either
          break
  result.update(**peak_rss(), **provenance())
  write_json(RESULTS / f"convergence_{name}.json", result)
  return result


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", choices=sorted(TOLERANCES), default="ncf")
  parser.add_argument("--max_steps", type=int, default=4000)
  parser.add_argument("--delete", type=int, default=5, help="rows of one user deleted")
  parser.add_argument("--cache_dir", default=cfdata.default_cache_dir("originals"))
  args = parser.parse_args()
  print(json.dumps({k: v for k, v in main(args.model, args.max_steps, args.delete, args.cache_dir).items()
                    if k != "runs"}))
