"""Yao et al.'s Table 2: seconds per explanation, batched and one at a time.

Reuses a finished Table 3 run (its config.json and simulation store): retrains the original
(same seed and steps), refits the linear and MLP regression surrogates on the stored
simulation, redraws the same test users and targets, and times each explainer twice on them:

* one at a time: a Python loop, one (user, item) pair per call (the paper's setting);
* batched: one call over all pairs (KNN: one cosine matrix; IF: one batched inverse-HVP
  computation; surrogates: every pair's candidates scored in fixed-size chunks).

Each mode is run once untimed first (compilation), then timed. Also reports how often the
two modes chose the same explanation, and the surrogates' one-off fitting time (amortised
over all explanations in the paper; shown separately).

  python -m experiments.table2 --output_dir=results/table3/movielens-default [--model=mf]
"""

from __future__ import annotations

import json
import pathlib
import time

from absl import app, flags
import jax
import numpy as np

from cfjax import data as cfdata
from cfjax import evaluate
from cfjax.evaluate import yao_eval
from cfjax.explain import knn as knn_lib
from cfjax.explain import search as search_lib
from cfjax.explain import surrogate as sg
from cfjax.models import make_model
from cfjax.simulate.generate import load_simulation
from cfjax.simulate.store import SimulationStore
from cfjax.train import to_train_data, train_original_exact
from experiments import common_flags  # noqa: F401  (output_dir, model, data_dir)
from experiments import yao_common

flags.DEFINE_integer("table2_users", None, "Pairs timed (default: the run's test users).")
FLAGS = flags.FLAGS

# Table 2 (MovieLens, MF): seconds per explanation, one at a time.
PAPER_SECONDS = {"knn": 1.25e-3, "influence_function": 6.47, "lasso_reg": 1.75, "mlp_reg": 2.60}
METHODS = ("knn", "influence_function", "lasso_reg", "mlp_reg")


def _timed(fn):
  """(result, seconds) of fn() after one untimed warm-up call."""
  fn()
  start = time.perf_counter()
  result = fn()
  return result, time.perf_counter() - start


def time_explainers(results_dir: str | pathlib.Path, model_name: str = "mf",
                    data_dir: str | None = None, num_users: int | None = None) -> dict:
  """{method: {"batched_s", "one_at_a_time_s", "same_choice", ...}} per explanation."""
  folder = pathlib.Path(results_dir) / model_name
  config = json.loads((folder / "config.json").read_text())
  s = config["flags"]
  seed, size, steps = s["seed"], s["yao_deletion_size"], s["yao_steps"]
  batch_size = s.get("yao_batch_size") or None
  full = yao_common.load_dataset(s["dataset"], data_dir or s.get("data_dir"))
  train, _ = cfdata.random_split(full, train_fraction=0.7, seed=seed)
  model = make_model(model_name, train, **s.get("model_hparams", {}))
  params = jax.block_until_ready(train_original_exact(
      model, to_train_data(train), seed=seed, steps=steps, batch_size=batch_size,
      chunk_size=s["chunk_size"])).params
  manifest = json.loads((folder / "simulation" / "manifest.json").read_text())
  store = SimulationStore.open(folder / "simulation", fingerprint=manifest["fingerprint"],
                               config=manifest["config"], num_blocks=manifest["num_blocks"])
  simulated = load_simulation(store)
  train_users = np.unique(simulated.users)
  context = sg.make_context(model, params, train)
  fit_users, _ = sg.split_users(train_users, s["yao_heldout_fraction"], seed)
  options = sg.FitOptions(num_folds=min(5, len(fit_users)), mlp_steps=s["yao_mlp_steps"],
                          seed=seed)
  surrogates, fit_seconds = {}, {}
  for name in ("lasso_reg", "mlp_reg"):
    start = time.perf_counter()
    surrogates[name] = sg.fit_surrogate(name, context, simulated, fit_users, options)
    fit_seconds[name] = time.perf_counter() - start
  min_history = config.get("eligibility", {}).get("min_history", max(2 * size, 5))
  users = yao_eval.sample_test_users(train, train_users, num_users or s["yao_test_users"],
                                     min_history=min_history, seed=seed)
  items = evaluate.top1_targets(model, params, train, users)
  pairs = list(zip(map(int, users), map(int, items)))
  candidates = s["yao_candidates"]

  def influence(us, its):
    return yao_eval.influence_records(model, params, train, us, its, size=size)[0]

  single = {
      "knn": lambda u, i: knn_lib.explain_knn(model, params, train, [u], [i], e=size),
      "influence_function": lambda u, i: influence([u], [i]),
      **{n: (lambda u, i, g=g: search_lib.explain(g, context, train, [u], [i], size=size,
                                                  max_candidates=candidates, seed=seed))
         for n, g in surrogates.items()}}
  batched = {
      "knn": lambda: knn_lib.explain_knn_batched(model, params, train, users, items, e=size),
      "influence_function": lambda: influence(users, items),
      **{n: (lambda g=g: search_lib.explain_batched(g, context, train, users, items, size=size,
                                                    max_candidates=candidates, seed=seed))
         for n, g in surrogates.items()}}
  out = {}
  for method in METHODS:
    one_records, one_seconds = _timed(lambda: [r for u, i in pairs
                                               for r in single[method](u, i)])
    if not one_records:
      out[method] = {"note": "influence function unavailable"}
      continue
    batch_records, batch_seconds = _timed(batched[method])
    same = np.mean([sorted(a.deleted_items) == sorted(b.deleted_items)
                    for a, b in zip(one_records, batch_records)])
    out[method] = {"one_at_a_time_s": one_seconds / len(pairs),
                   "batched_s": batch_seconds / len(pairs), "same_choice": float(same),
                   "pairs": len(pairs), "fit_s": fit_seconds.get(method)}
    print(f"{method}: {out[method]}")
  out["_scale"] = {"pairs": len(pairs), "candidates_max": candidates,
                   "mean_candidates": float(np.mean(
                       [min(candidates, _comb(len(train.history_items(u)), size))
                        for u in users])),
                   "model": model_name, "dataset": s["dataset"],
                   "environment": evaluate.environment_info()}
  return out


def _comb(n: int, k: int) -> int:
  import math
  return math.comb(n, k)


def markdown(timings: dict) -> str:
  """Table 2 layout: ours one at a time and batched beside the paper's."""
  fmt = lambda v: "-" if v is None else f"{v:.3g}"
  rows = []
  for method in METHODS:
    t = timings.get(method, {})
    rows.append([yao_common.LABELS.get(method, method), fmt(t.get("one_at_a_time_s")),
                 fmt(t.get("batched_s")), fmt(PAPER_SECONDS.get(method)),
                 "-" if "same_choice" not in t else f"{100 * t['same_choice']:.0f}%",
                 fmt(t.get("fit_s"))])
  scale = timings["_scale"]
  return (evaluate.markdown_table(
      ["method", "s / explanation, one at a time (ours)", "s / explanation, batched (ours)",
       "paper (one at a time)", "same choice", "surrogate fit s (one-off)"], rows) +
          f"\n{scale['pairs']} pairs ({scale['dataset']}, {scale['model']}); surrogate "
          f"search over <= {scale['candidates_max']} candidate 3-subsets per pair "
          f"(mean {scale['mean_candidates']:.0f}); {scale['environment'].get('device_kind')} "
          "(2 shared cores). The paper's machine and candidate counts differ.\n")


def table2(results_dir: str | pathlib.Path, model: str = "mf", data_dir: str | None = None,
           num_users: int | None = None) -> str:
  """Times the explainers of one Table 3 results directory; writes table2.md/json beside it."""
  folder = pathlib.Path(results_dir) / model
  timings = time_explainers(results_dir, model, data_dir, num_users)
  text = markdown(timings)
  (folder / "table2.md").write_text(text)
  (folder / "table2.json").write_text(json.dumps(timings, indent=1, default=str) + "\n")
  return text


def main(argv):
  del argv
  model = "mf" if FLAGS.model == "all" else FLAGS.model
  print(table2(FLAGS.output_dir or "results/table3/movielens-default", model, FLAGS.data_dir,
               FLAGS.table2_users))


if __name__ == "__main__":
  app.run(main)
