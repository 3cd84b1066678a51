"""Verify simple explanations by retraining: the knn heuristic vs. a placebo vs. the noise floor.

For `num_users` random users, explains each user's top-1 unseen item three ways (knn: the
history items nearest the target in embedding space; random: a placebo deletion of the same
size; none: nothing deleted) and retrains from scratch without the deleted items under a seed
different from the original's, so `none` measures retraining noise (Yao et al., eq. 2).

  CFJAX_DATA_DIR=/work/shared/data python -m experiments.retrain_verify [--preset=smoke]
"""

from __future__ import annotations

import time

from absl import app, flags
import jax
import numpy as np

from cfjax import data as cfdata
from cfjax import evaluate
from cfjax.models import make_model
from cfjax.train import to_train_data, train_original

from experiments import common_flags  # noqa: F401  (dataset, data_dir, model, seed, ...)

flags.DEFINE_integer("num_users", 20, "Users to explain.")
flags.DEFINE_integer("steps", 600, "Full-batch Adam steps (original and each retrain).")
flags.DEFINE_integer("deletion_size", 3, "Items deleted per explanation.")
FLAGS = flags.FLAGS

PRESETS = {"smoke": {"num_users": 3, "steps": 30}, "default": {}}
SETTINGS = ("dataset", "data_dir", "model", "num_users", "steps", "seed", "deletion_size",
            "output_dir", "chunk_size", "preset")
KS = (1, 3, 5, 10)
LABELS = {"knn": "knn", "random": "random (placebo)", "none": "none (noise floor)"}


def settings_from_flags() -> dict:
  """The flag values, with the preset filling in flags not given on the command line."""
  settings = {name: FLAGS[name].value for name in SETTINGS}
  if settings["preset"] not in PRESETS:
    raise ValueError(f"unknown --preset={settings['preset']}; choose one of {sorted(PRESETS)}")
  settings.update({k: v for k, v in PRESETS[settings["preset"]].items() if not FLAGS[k].present})
  settings["output_dir"] = settings["output_dir"] or "results/retrain_verify"
  if settings["chunk_size"] is None:
    settings["chunk_size"] = 1 if jax.default_backend() == "cpu" else 64
  return settings


def build_records(model, params, train, settings) -> list:
  """knn, random and none explanations of each sampled user's top-1 unseen item."""
  users = evaluate.sample_users(train, settings["num_users"], seed=settings["seed"],
                                min_history=settings["deletion_size"])
  targets = evaluate.top1_targets(model, params, train, users)
  embeddings = evaluate.item_embeddings(model, params)
  rng = np.random.default_rng(settings["seed"])
  size = settings["deletion_size"]
  return [record for user, item in zip(users.tolist(), targets.tolist()) for record in (
      evaluate.knn_explanation(train, user, item, size, embeddings),
      evaluate.random_explanation(train, user, item, size, rng),
      evaluate.empty_explanation(user, item))]


def run(settings: dict, progress: bool = True) -> str:
  """Runs (or resumes) the experiment and returns the markdown table."""
  start = time.perf_counter()
  full = cfdata.load(settings["dataset"], data_dir=settings["data_dir"])
  verify_seeds = (settings["seed"] + 1,)  # not the original's seed: `none` measures noise
  config = {"flags": settings, "environment": evaluate.environment_info(), "ks": list(KS),
            "data": {"name": full.name, "sha256": cfdata.data_checksum(full), "rows": len(full),
                     "users": full.num_users, "items": full.num_items},
            "protocol": "scratch", "original_seed": settings["seed"],
            "verify_seeds": list(verify_seeds)}
  if evaluate.finished_results(settings["output_dir"], config) is not None:
    print(f"finished results with this config in {settings['output_dir']}; not recomputing")
    with open(f"{settings['output_dir']}/table.md", encoding="utf-8") as f:
      return f.read()
  train, test = cfdata.random_split(full, train_fraction=0.7, seed=settings["seed"])
  model = make_model(settings["model"], train)
  t0 = time.perf_counter()
  original = jax.block_until_ready(
      train_original(model, to_train_data(train), seed=settings["seed"], steps=settings["steps"]))
  train_seconds = time.perf_counter() - t0
  records = build_records(model, original.params, train, settings)
  t0 = time.perf_counter()
  verified = evaluate.verify(records, model=model, train=train, original=original,
                             protocol="scratch", seeds=verify_seeds, steps=settings["steps"],
                             ks=KS, chunk_size=settings["chunk_size"], progress=progress)
  verify_seconds = time.perf_counter() - t0
  summaries = evaluate.summarize_by_method(verified, KS)
  markdown = evaluate.validity_markdown(summaries, KS, LABELS)
  config["metrics"] = {"test_rmse": evaluate.rmse(model, original.params, test),
                       "retrained_models": len({(r.user, r.deleted_items) for r in records})}
  config["timings"] = {"train_original_s": train_seconds, "verify_s": verify_seconds,
                       "total_s": time.perf_counter() - start}
  evaluate.write_results_dir(settings["output_dir"], config=config, verified=verified,
                             table={"methods": summaries, "ks": list(KS), **config["metrics"]},
                             markdown=markdown)
  print(f"test RMSE {config['metrics']['test_rmse']:.4f}; timings {config['timings']}")
  return markdown


def main(argv):
  """absl entry point: runs with the flag settings and prints the table."""
  del argv
  try:
    print(run(settings_from_flags()))
  except ValueError as error:  # bad input: one line, no traceback
    raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
  app.run(main)
