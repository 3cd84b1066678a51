"""The retrain-and-verify study: the knn heuristic vs. a random placebo vs. the noise floor.

For `num_users` random users, explains each user's top-1 unseen item three ways (knn: the
history items nearest the target in embedding space; random: a placebo deletion of the same
size; none: nothing deleted) and retrains from scratch without the deleted items under a
seed different from the original's, so `none` measures retraining noise (Yao et al., eq. 2).
"""

from __future__ import annotations

import os

from cfjax import data as cfdata
from cfjax.evaluate import (noise_floor_warnings, rmse, summarize_by_method,
                            validity_markdown, verified_rows, verify)
from cfjax.evaluate.metrics import constant_rmse, fit_warnings
from cfjax.explain import get_explainer, top1_targets
from cfjax.models import make_model
from cfjax.models.base import SCHEDULES
from cfjax.pipeline import Run, engine_chunk_size, original_context, run_config
from cfjax.train import RetrainProtocol
from cfjax.util import check_int, check_number

KS = (1, 3, 5, 10)


def check_config(config) -> None:
  """One-line errors for impossible settings, before any data is loaded."""
  for name in ("num_users", "steps", "deletion_size"):
    check_int(config[name], name, minimum=1)
  check_int(config.seed, "seed")
  check_number(config.train_fraction, "train_fraction", minimum=0.01, maximum=0.99)
  if config.learning_rate is not None:
    check_number(config.learning_rate, "learning_rate", minimum=1e-12)
  engine_chunk_size(config.chunk_size, None)
  if config.get("schedule", "constant") not in SCHEDULES:
    raise ValueError(f"schedule={config.schedule!r} is not one of {SCHEDULES}")
LABELS = {"knn": "knn", "random": "random (placebo)", "none": "none (noise floor)"}


def run(config, workdir: str | os.PathLike) -> dict:
  """Runs (or finds finished) results of the study into `workdir`; returns table.json's dict.

  Args:
    config: `cfjax/experiments/configs/retrain_verify.py`'s fields (dataset, data_dir, model, seed,
      train_fraction, num_users, steps, deletion_size, chunk_size).
    workdir: the results directory.
  """
  check_config(config)
  with Run.held(workdir) as run:
    full = cfdata.load(config.dataset, data_dir=config.data_dir)
    verify_seeds = (config.seed + 1,)  # not the original's seed: `none` measures noise
    chunk_size = engine_chunk_size(config.chunk_size, None)
    train, test = cfdata.random_split(full, train_fraction=config.train_fraction,
                                      seed=config.seed)
    hparams = {} if config.learning_rate is None else {"learning_rate": config.learning_rate}
    if config.get("schedule", "constant") != "constant":
      hparams.update(schedule=config.schedule, decay_steps=config.steps)
    model = make_model(config.model, train, **hparams)
    done = run.finished(run_config(config, full, model_hparams=model.hparams, ks=list(KS),
                                   protocol="scratch", original_seed=config.seed,
                                   verify_seeds=list(verify_seeds)))
    if done is not None:
      return done
    spec = RetrainProtocol(steps=config.steps, batch_size=None, seeds=(config.seed,))
    ctx, training = original_context(model, train, spec)
    users = cfdata.sample_users(train, config.num_users, min_history=config.deletion_size,
                                seed=config.seed)
    targets = top1_targets(ctx, users)
    by_method = [get_explainer("knn", e=config.deletion_size).explain(ctx, targets),
                 get_explainer("random", e=config.deletion_size,
                               seed=config.seed).explain(ctx, targets),
                 get_explainer("none").explain(ctx, targets)]
    records = [r for per_user in zip(*by_method) for r in per_user]
    with run.section("verify_s"):
      verified = verify(records, model=model, train=train, original=ctx.original,
                        protocol=spec.with_seeds(verify_seeds).with_chunk_size(chunk_size),
                        ks=KS)
    summaries = summarize_by_method(verified, KS)
    metrics = {"test_rmse": rmse(model, ctx.params, test),
               "constant_rmse": constant_rmse(train, test),
               "retrained_models": len({(r.user, r.deleted_items) for r in records})}
    warnings = (noise_floor_warnings(summaries, KS)
                + fit_warnings(metrics["test_rmse"], metrics["constant_rmse"]))
    table = {"methods": summaries, "ks": list(KS), **metrics, "warnings": warnings}
    markdown = validity_markdown(summaries, KS, LABELS) + "".join(
        f"\n{line}\n" for line in fit_warnings(metrics["test_rmse"], metrics["constant_rmse"]))
    return run.write(table=table, markdown=markdown, records=verified,
                     rows=verified_rows(verified), metrics=metrics,
                     timings={"train_original_s": training["seconds"]})
