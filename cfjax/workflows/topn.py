"""Is the model a reasonable recommender? Recall@K / NDCG@K on a per-user hold-out.

Pipeline of `python -m experiments.topn --dataset=movielens --model=ease`: loads the data
(every interaction an implicit positive, or only ratings above `keep_above`), holds out a
fraction of every user's rows (`per_user_holdout`), trains the model on the rest with its
per-dataset preset (`cfjax/experiments/configs/topn.py`), and ranks every unseen item for each user
(`cfjax.evaluate.topn`). Mult-VAE is trained on the users' training rows with a validation
hold-out carved from them for its best epoch (Liang et al. 2018), then scores the full
training rows. Published figures, where one exists for a comparable protocol, are in
`cfjax.papers.published.TOPN`.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from cfjax import data as cfdata
from cfjax.data.interactions import Interactions
from cfjax.evaluate import markdown_table
from cfjax.evaluate.topn import model_scores, topn_metrics
from cfjax.models import make_model, make_multvae, train_multvae
from cfjax.pipeline import Run, run_config
from cfjax.train import RetrainProtocol, to_train_data, train_original
from cfjax.train.health import check_training
from cfjax.train.fit import seed_keys
from cfjax.util import check_int, check_number


# Per dataset and model: training (steps, batch size; Mult-VAE: epochs) and hyperparameters.
# Chosen on a validation hold-out carved from the training rows (docs/models.md), never on the
# test rows; --config.hparams.<name>= / --config.steps= override them.
MODEL_PRESETS = {
    "movielens-100k": {
        "bpr": {"steps": 800, "batch_size": None,
                "hparams": {"dim": 64, "l2": 1e-3, "learning_rate": 0.003}},
        "lightgcn": {"steps": 400, "batch_size": None,
                     "hparams": {"dim": 64, "num_layers": 3, "l2": 1e-4,
                                 "learning_rate": 0.01}},
        "ease": {"steps": 1, "batch_size": None, "hparams": {"l2": 500.0}},
        "multvae": {"epochs": 200, "hparams": {}},
    },
    "ml-1m": {  # not tuned on ML-1M except EASE's lambda
        "bpr": {"steps": 800, "batch_size": None,
                "hparams": {"dim": 64, "l2": 1e-3, "learning_rate": 0.003}},
        "lightgcn": {"steps": 400, "batch_size": None,
                     "hparams": {"dim": 64, "num_layers": 3, "l2": 1e-4,
                                 "learning_rate": 0.01}},
        "ease": {"steps": 1, "batch_size": None, "hparams": {"l2": 1000.0}},
        "multvae": {"epochs": 200, "hparams": {}},
    },
}
FALLBACK = "movielens-100k"  # presets for other data (your own files)


def resolve(config) -> dict:
  """The run's training settings: the preset of (dataset, model), overridden by the config's
  non-None steps / batch_size / epochs and its hparams."""
  try:
    dataset = cfdata.canonical_name(config.dataset)
  except ValueError:
    dataset = FALLBACK
  presets = MODEL_PRESETS.get(dataset, MODEL_PRESETS[FALLBACK])
  preset = presets.get(config.model, {"steps": 300, "batch_size": None, "hparams": {}})
  settings = {"steps": preset.get("steps"), "batch_size": preset.get("batch_size"),
              "epochs": preset.get("epochs"),
              "hparams": {**preset["hparams"], **{k: v for k, v in config.hparams.items()
                                                  if v is not None}}}
  for name in ("steps", "batch_size", "epochs"):
    if config[name] is not None:
      settings[name] = config[name]
  return settings


def check_config(config) -> None:
  """One-line errors for impossible settings, before any data is loaded."""
  check_int(config.seed, "seed")
  check_number(config.holdout, "holdout", minimum=0.01, maximum=0.99)
  for k in config.ks:
    check_int(k, "ks entry", minimum=1)
  settings = resolve(config)
  if config.model == "multvae":
    check_int(settings["epochs"], "epochs", minimum=1)
  else:
    check_int(settings["steps"], "steps", minimum=1)
    if settings["batch_size"] is not None:
      check_int(settings["batch_size"], "batch_size", minimum=1)


def implicit(data: Interactions, keep_above: float | None) -> Interactions:
  """Every interaction (or those rated above `keep_above`) as a positive with rating 1.0."""
  if keep_above is not None:
    return cfdata.binarize(data, keep_above=float(keep_above))
  return Interactions(user=data.user, item=data.item, rating=np.ones(len(data), np.float32),
                      num_users=data.num_users, num_items=data.num_items,
                      timestamp=data.timestamp, user_ids=data.user_ids, item_ids=data.item_ids,
                      item_titles=data.item_titles, name=data.name)


def _multvae_scores(config, settings: dict, train: Interactions):
  """Mult-VAE trained on the training rows; returns users -> scores of their full rows."""
  fit_part, val_part = cfdata.per_user_holdout(train, holdout=0.1, seed=config.seed + 1)
  rows = fit_part.seen_matrix().astype(np.float32)
  active = np.flatnonzero(val_part.user_counts > 0)
  vae = make_multvae(train.num_items, **settings["hparams"])
  trained = train_multvae(vae, rows, rows[active], val_part.seen_matrix()[active]
                          .astype(np.float32), key=jax.random.PRNGKey(config.seed),
                          epochs=int(settings["epochs"]), batch_size=int(config.vae_batch_size),
                          total_anneal_steps=int(config.total_anneal_steps))
  full = train.seen_matrix().astype(np.float32)
  score = jax.jit(vae.score)
  info = {"best_epoch": trained.best_epoch, "val_ndcg100": trained.best_ndcg,
          "hparams": vae.hparams}
  return (lambda users: np.asarray(score(trained.params, full[np.asarray(users)]))), info


def _trained_scores(config, settings: dict, train: Interactions):
  """The model trained on the training rows (checked: its loss fell); returns users -> scores
  and its facts."""
  model = make_model(config.model, train, **settings["hparams"])
  spec = RetrainProtocol(steps=int(settings["steps"]), batch_size=settings["batch_size"],
                         seeds=(config.seed,))
  rows = to_train_data(train)
  state = jax.block_until_ready(train_original(model, rows, spec))
  health = check_training(model, rows, initial=model.init(seed_keys(spec.seed)[0]),
                          trained=state.params, steps=spec.steps)
  facts = {"hparams": model.hparams, "steps": spec.steps, "batch_size": spec.batch_size,
           **health}
  return model_scores(model, state.params), facts


def run(config, workdir: str | os.PathLike) -> dict:
  """Trains `config.model` on `config.dataset`'s per-user training rows and writes its
  Recall@K / NDCG@K and distinct top-1 items into `workdir`; returns table.json's dict."""
  check_config(config)
  with Run.held(workdir) as run:
    data = implicit(cfdata.load(config.dataset, data_dir=config.data_dir), config.keep_above)
    train, test = cfdata.per_user_holdout(data, holdout=float(config.holdout), seed=config.seed)
    settings = resolve(config)
    done = run.finished(run_config(config, data, settings=settings,
                                   split={"train_rows": len(train), "test_rows": len(test)}))
    if done is not None:
      return done
    with run.section("train_s") as training:
      if config.model == "multvae":
        scores_of, facts = _multvae_scores(config, settings, train)
      else:
        scores_of, facts = _trained_scores(config, settings, train)
    with run.section("evaluate_s"):
      metrics = topn_metrics(scores_of, train, test, list(config.ks))
    row = {"dataset": data.name, "model": config.model, **metrics}
    header = ["dataset", "model"] + [f"{m}@{k}" for k in config.ks for m in ("recall", "ndcg")]
    header += ["users", "distinct top-1", "train s"]
    body = [[data.name, config.model] + [round(metrics[f"{m}@{k}"], 4) for k in config.ks
                                        for m in ("recall", "ndcg")]
            + [metrics["users"], metrics["distinct_top1"], round(training.seconds, 1)]]
    markdown = (f"# Top-N accuracy: {data.name} / {config.model} ({config.preset})\n\n"
                f"Per-user hold-out of {config.holdout:.0%} of each user's rows (seed "
                f"{config.seed}), full ranking over unseen items.\n\n"
                + markdown_table(header, body))
    table = {**row, "facts": facts, "train_s": training.seconds}
    return run.write(table=table, markdown=markdown, rows=[row],
                     metrics={**metrics, "facts": facts})
