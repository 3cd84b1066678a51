"""Yao et al.'s Table 3: counterfactual validity of surrogate explanations vs. baselines.

Pipeline per recommender (sec. 5-6): train the original; simulate counterfactual outcomes for
sampled training users (Algorithm 2, resumable store); fit the surrogates and score them on
held-out users; explain each test user's top-1 item (test users disjoint from the
surrogate's users) with every method; retrain without each explanation (one batched call)
and report the share of targets that left the top-K, K = 1, 3, 5, beside the paper's value.

  CFJAX_DATA_DIR=/work/shared/data python -m experiments.table3 --dataset=movielens \
      --model=mf|ncf|all --preset=smoke|default|paper
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time

from absl import app, flags
import jax
import numpy as np

from cfjax import data as cfdata
from cfjax import evaluate
from cfjax.evaluate import yao_eval
from cfjax.explain import search as search_lib
from cfjax.explain import surrogate as sg
from cfjax.models import make_model
from cfjax.simulate.generate import SimulationConfig, simulate
from cfjax.train import to_train_data, train_original_exact

from experiments import common_flags  # noqa: F401  (dataset, data_dir, model, seed, ...)
from experiments import yao_common


flags.DEFINE_integer("yao_train_users", None, "Surrogate training users (paper: 200).")
flags.DEFINE_integer("yao_subsets", None, "Deletion subsets per training user (paper: 1000).")
flags.DEFINE_integer("yao_test_users", None, "Test users explained (paper: 200).")
flags.DEFINE_integer("yao_steps", None, "Adam steps of the original and each retrain (full "
                     "batch for MF; minibatch for NCF, see yao_batch_size).")
flags.DEFINE_integer("yao_batch_size", None, "Rows per step; 0 = full batch (default: full batch "
                     "for MF, NCF's 1,246-row minibatches).")
flags.DEFINE_integer("yao_top_n", 20, "N: top items whose change is simulated (Algorithm 2).")
flags.DEFINE_integer("yao_deletion_size", 3, "e: items per deletion and per explanation.")
flags.DEFINE_float("yao_deletion_fraction", None, "Simulate deletions of this share of the "
                   "history instead of yao_deletion_size items (ablation: 0.4).")
flags.DEFINE_integer("yao_candidates", None, "Max candidate subsets searched (paper: 100000).")
flags.DEFINE_integer("yao_block_size", None, "Models per simulation block (one shard).")
flags.DEFINE_integer("yao_verify_budget", None, "verified: max candidates retrained per user.")
flags.DEFINE_integer("yao_verify_per_round", None, "verified: candidates per user per round.")
flags.DEFINE_string("yao_verified_surrogate", "coupled_reg", "Surrogate ranking `verified`.")
flags.DEFINE_list("yao_surrogates", ["lasso_reg", "mlp_reg", "logreg_clf", "mlp_clf",
                                     "coupled_reg"], "Surrogates to fit and evaluate.")
flags.DEFINE_integer("yao_mlp_steps", None, "Adam steps of the MLP/DeepSets surrogates.")
flags.DEFINE_float("yao_heldout_fraction", 0.2, "Share of simulated users held out for fit.")
flags.DEFINE_bool("yao_influence", True, "Include the influence-function baseline.")
flags.DEFINE_integer("yao_verify_seed_offset", None, "Verification retrains use seed + this. "
                     "1: another seed than the original (`none` = retraining noise floor); 0: "
                     "paired with the original (the deletion is the only difference). "
                     "Default: 1 for MF, 0 for NCF (reseeding alone moves NCF's top-1s).")
FLAGS = flags.FLAGS

KS = (1, 3, 5)
PRESETS = {
    "smoke": dict(yao_train_users=4, yao_subsets=4, yao_test_users=3, yao_steps=30,
                  yao_candidates=2000, yao_block_size=8, yao_verify_budget=2,
                  yao_verify_per_round=2, yao_mlp_steps=200),
    "default": dict(yao_train_users=32, yao_subsets=32, yao_test_users=50, yao_steps=300,
                    yao_candidates=100_000, yao_block_size=32, yao_verify_budget=2,
                    yao_verify_per_round=2, yao_mlp_steps=2000),
    "paper": dict(yao_train_users=200, yao_subsets=1000, yao_test_users=200, yao_steps=600,
                  yao_candidates=100_000, yao_block_size=200, yao_verify_budget=8,
                  yao_verify_per_round=4, yao_mlp_steps=5000),
}
# NCF trains on 1,246-row minibatches (ACCENT's setting): cheap steps (~4,000 model-steps/s
# vmapped at chunk 64 on 2 CPU cores vs ~800 for MF's full batch), so it gets more of them.
# default: 600 steps = ~11 epochs on MovieLens' 70K training rows, ~16 on Amazon's 45K.
MODEL_DEFAULTS = {
    "mf": {"batch_size": 0, "steps": {}},
    "ncf": {"batch_size": 1246, "steps": {"smoke": 60, "default": 600, "paper": 3000},
            # ACCENT's NeuMF (L2 1e-3 on ALL weights, Adam 1e-3) is not personalised after 600
            # steps: its user embeddings shrink to ~0 (6 distinct top-1 items over 95 MovieLens
            # users, 2 after 3,000 steps), so no deletion of a user's history changes their
            # list (96 % of simulated Delta y were exactly 0 and every method scored the noise
            # floor). L2 1e-4 and Adam 1e-2: 52 distinct top-1 items, test RMSE 1.009.
            "hparams": {"weight_decay": 1e-4, "learning_rate": 1e-2},
            # Another seed moved 100 % of NCF's top-1 items with nothing deleted (the noise
            # floor would be 100 %), so NCF verifies paired with the original's seed.
            "verify_seed_offset": 0},
}
SETTINGS = ("dataset", "data_dir", "model", "seed", "output_dir", "chunk_size", "preset",
            "yao_train_users", "yao_subsets", "yao_test_users", "yao_steps", "yao_batch_size",
            "yao_top_n",
            "yao_deletion_size", "yao_deletion_fraction", "yao_candidates", "yao_block_size",
            "yao_verify_budget", "yao_verify_per_round", "yao_verified_surrogate",
            "yao_surrogates", "yao_mlp_steps", "yao_heldout_fraction", "yao_influence",
            "yao_verify_seed_offset")


def settings_from_flags() -> dict:
  """Flag values, the preset filling in every flag not given on the command line."""
  settings = {name: FLAGS[name].value for name in SETTINGS}
  if settings["preset"] not in PRESETS:
    raise ValueError(f"unknown --preset={settings['preset']}; choose one of {sorted(PRESETS)}")
  settings.update({k: v for k, v in PRESETS[settings["preset"]].items() if not FLAGS[k].present})
  settings["dataset"] = yao_common.canonical_dataset(settings["dataset"])
  if settings["preset"] == "paper" and not FLAGS["yao_train_users"].present:
    settings["yao_train_users"] = yao_common.PAPER_TRAIN_USERS[settings["dataset"]]
  settings["output_dir"] = settings["output_dir"] or (
      f"results/table3/{settings['dataset']}-{settings['preset']}")
  settings["yao_surrogates"] = list(settings["yao_surrogates"])
  settings["explicit"] = sorted(n for n in ("yao_steps", "yao_batch_size", "chunk_size",
                                          "yao_verify_seed_offset") if FLAGS[n].present)
  return settings


def model_settings(settings: dict, model_name: str) -> dict:
  """The settings of one recommender: its batch size, steps and chunk size unless given."""
  settings = dict(settings)
  explicit = set(settings.get("explicit", ()))
  defaults = MODEL_DEFAULTS.get(model_name, MODEL_DEFAULTS["mf"])
  if "yao_batch_size" not in explicit or settings["yao_batch_size"] is None:
    settings["yao_batch_size"] = defaults["batch_size"]
  if "yao_steps" not in explicit and settings["preset"] in defaults["steps"]:
    settings["yao_steps"] = defaults["steps"][settings["preset"]]
  settings["model_hparams"] = dict(defaults.get("hparams", {}))
  if "yao_verify_seed_offset" not in explicit or settings["yao_verify_seed_offset"] is None:
    settings["yao_verify_seed_offset"] = defaults.get("verify_seed_offset", 1)
  if "chunk_size" not in explicit or settings["chunk_size"] is None:
    full_batch_cpu = not settings["yao_batch_size"] and jax.default_backend() == "cpu"
    settings["chunk_size"] = 1 if full_batch_cpu else 64
  return settings


def eligible_note(train, min_history: int) -> dict:
  """How many users are too short to sample (fewer than min_history training items)."""
  counts = np.asarray(train.user_counts)
  short = int((counts < min_history).sum())
  return {"min_history": min_history, "users": int(len(counts)), "excluded_short": short,
          "note": f"{short} of {len(counts)} users have fewer than {min_history} training "
                  f"items (needed: > e = deletion size, and room for the search) and are "
                  f"excluded from the surrogate's training and test users"}


def markdown(summaries, heldout, settings, model_name, verified_cost) -> str:
  """Table 3 layout: ours beside the paper's value (percent) for every K, plus held-out fit."""
  header = ["method"] + [f"K={k} ours / paper" for k in KS] + ["held-out fit", "users"]
  rows = []
  for method, summary in summaries.items():
    cells = []
    for k in KS:
      paper = yao_common.paper_value(model_name, settings["dataset"], method, k)
      ours = 100 * summary["validity"][k]
      cells.append(f"{ours:.1f}% / " + ("-" if paper is None else f"{paper:g}%"))
    fit = heldout.get(method, {})
    fit_text = (f"R2 {fit['r2']:.3f}" if "r2" in fit else
                f"acc {fit['accuracy']:.3f} (majority {fit['majority_rate']:.3f})"
                if "accuracy" in fit else "-")
    rows.append([yao_common.LABELS.get(method, method)] + cells + [fit_text, summary["users"]])
  text = evaluate.markdown_table(header, rows)
  if verified_cost:
    text += (f"\nverified: found a candidate that left the top-1 under the verification seed "
             f"for {verified_cost['found']}/{verified_cost['users']} users, "
             f"{verified_cost['mean_retrains']:.2f} retrains per user on average "
             f"(budget {settings['yao_verify_budget']}).\n")
  return text


def run_model(settings: dict, model_name: str, full, progress: bool = True) -> str:
  """Runs (or resumes) Table 3 for one recommender into output_dir/<model>."""
  start = time.perf_counter()
  settings = model_settings(settings, model_name)
  out = pathlib.Path(settings["output_dir"]) / model_name
  seed, size, steps = settings["seed"], settings["yao_deletion_size"], settings["yao_steps"]
  batch_size = settings["yao_batch_size"] or None
  # seed + 1 (default): not the original's seed, so `none` measures retraining noise;
  # offset 0: paired with the original, so only the deletion differs (`none` is exactly 0)
  verify_seed = seed + settings["yao_verify_seed_offset"]
  config = {"flags": {**settings, "model": model_name},
            "environment": evaluate.environment_info(), "ks": list(KS),
            "data": {"name": full.name, "sha256": cfdata.data_checksum(full), "rows": len(full),
                     "users": full.num_users, "items": full.num_items},
            "protocol": "scratch", "original_seed": seed, "verify_seeds": [verify_seed],
            "scale": {"train_users": settings["yao_train_users"],
                      "subsets_per_user": settings["yao_subsets"],
                      "test_users": settings["yao_test_users"],
                      "candidates": settings["yao_candidates"], "steps": steps,
                      "batch_size": batch_size or "full",
                      "paper": {"train_users": yao_common.PAPER_TRAIN_USERS.get(
                          settings["dataset"]), "subsets_per_user": 1000, "test_users": 200,
                                "candidates": 100_000}}}
  train, test = cfdata.random_split(full, train_fraction=0.7, seed=seed)
  min_history = max(2 * size, 5)
  if settings["yao_deletion_fraction"]:
    min_history = max(min_history, int(np.ceil(2 / settings["yao_deletion_fraction"])))
  config["eligibility"] = eligible_note(train, min_history)
  if evaluate.finished_results(out, config) is not None:
    print(f"finished results with this config in {out}; not recomputing")
    return (out / "table.md").read_text()
  timings = {}
  model = make_model(model_name, train, **settings["model_hparams"])
  data = to_train_data(train)
  t0 = time.perf_counter()
  original = jax.block_until_ready(train_original_exact(
      model, data, seed=seed, steps=steps, batch_size=batch_size,
      chunk_size=settings["chunk_size"]))
  timings["train_original_s"] = time.perf_counter() - t0
  params = original.params

  print(config["eligibility"]["note"])
  train_users = evaluate.sample_users(train, settings["yao_train_users"],
                                      min_history=min_history, seed=seed)
  sim_config = SimulationConfig(
      subsets_per_user=settings["yao_subsets"],
      deletion_size=None if settings["yao_deletion_fraction"] else size,
      deletion_fraction=settings["yao_deletion_fraction"], top_n=settings["yao_top_n"],
      seed=seed, retrain_seed=seed, steps=steps, batch_size=batch_size,
      block_size=settings["yao_block_size"],
      chunk_size=settings["chunk_size"])
  t0 = time.perf_counter()
  simulated = simulate(model, train, params, train_users, sim_config, str(out / "simulation"),
                       extra_fingerprint={"data": config["data"], "model": model_name,
                                          "hparams": model.hparams}, progress=progress)
  timings["simulate_s"] = time.perf_counter() - t0

  t0 = time.perf_counter()
  context = sg.make_context(model, params, train)
  fit_users, held_users = sg.split_users(train_users, settings["yao_heldout_fraction"], seed)
  options = sg.FitOptions(num_folds=min(5, len(fit_users)), mlp_steps=settings["yao_mlp_steps"],
                          seed=seed)
  surrogates, heldout = {}, {}
  for name in settings["yao_surrogates"]:
    surrogates[name] = sg.fit_surrogate(name, context, simulated, fit_users, options)
    heldout[name] = sg.heldout_metrics(surrogates[name], context, simulated, held_users)
    print(f"{model_name} {name}: held-out {heldout[name]}")
  timings["fit_surrogates_s"] = time.perf_counter() - t0

  users = yao_eval.sample_test_users(train, train_users, settings["yao_test_users"],
                                     min_history=min_history, seed=seed)
  items = evaluate.top1_targets(model, params, train, users)
  t0 = time.perf_counter()
  records = []
  explain_seconds = {}
  for name, surrogate in surrogates.items():
    s0 = time.perf_counter()
    records += search_lib.explain(surrogate, context, train, users, items, size=size,
                                  max_candidates=settings["yao_candidates"], seed=seed)
    explain_seconds[name] = (time.perf_counter() - s0) / len(users)
  s0 = time.perf_counter()
  base, influence_note = yao_eval.baseline_records(model, params, train, users, items,
                                                   size=size, seed=seed,
                                                   influence=settings["yao_influence"])
  records += base
  timings["explain_s"] = time.perf_counter() - t0
  verified_cost = None
  if settings["yao_verify_budget"] and settings["yao_verified_surrogate"] in surrogates:
    t0 = time.perf_counter()
    checked = yao_eval.verified_records(
        surrogates[settings["yao_verified_surrogate"]], context, model=model, train=train,
        original=original, users=users, items=items, size=size,
        max_candidates=settings["yao_candidates"], budget=settings["yao_verify_budget"],
        per_round=settings["yao_verify_per_round"], k=1, search_seed=seed,
        verify_seed=seed + 2, steps=steps, batch_size=batch_size,
        chunk_size=settings["chunk_size"], progress=progress)
    records += checked
    retrains = [r.extra["retrains"] for r in checked]
    verified_cost = {"users": len(checked), "found": int(sum(r.extra["found"] for r in checked)),
                     "mean_retrains": float(np.mean(retrains)), "total_retrains": int(sum(retrains)),
                     "engine_models": int(checked[0].extra["engine_models_total"]),
                     "search_verification_seed": seed + 2,
                     "seconds": time.perf_counter() - t0}
    timings["verified_s"] = verified_cost["seconds"]
  t0 = time.perf_counter()
  verified = evaluate.verify(records, model=model, train=train, original=original,
                             protocol="scratch", seeds=(verify_seed,), steps=steps,
                             batch_size=batch_size, ks=KS,
                             chunk_size=settings["chunk_size"], progress=progress)
  timings["verify_s"] = time.perf_counter() - t0
  summaries = evaluate.summarize_by_method(verified, KS)
  text = markdown(summaries, heldout, settings, model_name, verified_cost)
  if influence_note:
    text += f"\n{influence_note}\n"
  cells = [{"method": m, "k": k, "ours_percent": 100 * s["validity"][k],
            "paper_percent": yao_common.paper_value(model_name, settings["dataset"], m, k)}
           for m, s in summaries.items() for k in KS]
  config["metrics"] = {"test_rmse": evaluate.rmse(model, params, test),
                       "simulated_models": simulated.num_models,
                       "simulation_retrain_s": simulated.seconds,
                       "heldout": heldout, "verified_cost": verified_cost,
                       "surrogate_info": {n: s.info for n, s in surrogates.items()},
                       "explain_seconds_per_user": explain_seconds,
                       "influence_note": influence_note}
  timings["total_s"] = time.perf_counter() - start
  config["timings"] = timings
  table = {"methods": summaries, "ks": list(KS), "cells": cells, "heldout": heldout,
           "verified_cost": verified_cost, "test_rmse": config["metrics"]["test_rmse"],
           "scale": config["scale"], "model": model_name, "dataset": settings["dataset"]}
  evaluate.write_results_dir(out, config=json.loads(json.dumps(config, default=float)),
                             verified=verified, table=table, markdown=text)
  print(f"{model_name}: test RMSE {config['metrics']['test_rmse']:.4f}; timings {timings}")
  return text


def run(settings: dict, progress: bool = True) -> str:
  """Runs every requested recommender; returns their markdown tables."""
  full = yao_common.load_dataset(settings["dataset"], settings["data_dir"])
  models = ["mf", "ncf"] if settings["model"] == "all" else [settings["model"]]
  scale = (f"scale: {settings['yao_train_users']} train users x {settings['yao_subsets']} "
           f"subsets, {settings['yao_test_users']} test users, <= {settings['yao_candidates']} "
           f"candidates, {settings['yao_steps']} steps (preset {settings['preset']}; paper: "
           f"{yao_common.PAPER_TRAIN_USERS[settings['dataset']]} x 1000, 200 test users, "
           "100K candidates)\n")
  def header(m):
    own = model_settings(settings, m)
    return (f"## {settings['dataset']} / {m} ({own['yao_steps']} steps, batch "
            f"{own['yao_batch_size'] or 'full'})\n\n")
  return scale + "\n".join(header(m) + run_model(settings, m, full, progress) for m in models)


def main(argv):
  """absl entry point."""
  del argv
  print(run(settings_from_flags()))


if __name__ == "__main__":
  app.run(main)
