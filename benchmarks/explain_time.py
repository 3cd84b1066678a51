"""Seconds per explained (user, item) pair: IF (Yao et al. eq. 10), FIA baselines and ACCENT.

Workload: ACCENT's NeuMF trained for a few epochs (minibatches of 1246 rows) on its
MovieLens-100K training file (accent-ml100k: 452 users, 61,054 rows). Each user's top-1
unseen item is explained by
  * if: the "influence_function" explainer (all parameters, Hessian of the whole training loss,
    MINRES (the Hessian is indefinite) with damping --if_damping and at most --if_max_iters
    iterations, e = 3);
  * pure_fia, fia, accent: the explainers of those names, each on a fresh context (FIA influences on
    the top-k, k = --k, damping 1e-6, explicit 64x64 Hessians over the related rows).
Each method is run batched over --users users in one call and one user at a time over
--single_users users (a Python loop of calls with batch 1). Every configuration is first
run once on identical shapes (pad widths fixed to the dataset's longest history and most
popular item), so compiles are excluded from the timed figures; the first-call excess is
reported as compile_seconds. Run:

  CFJAX_DATA_DIR=/work/shared/data python -m benchmarks.explain_time [--quick]
"""

from __future__ import annotations

import json
import pathlib
import time

from absl import app
from absl import flags
import numpy as np

from cfjax.data import load, sample_users
from cfjax.data.interactions import round_up
from cfjax.evaluate import environment_info
from cfjax.explain import ExplainContext, get_explainer, top1_targets
from cfjax.models import make_model
from cfjax.train import RetrainProtocol, steps_per_epoch, to_train_data, train_original

METHODS = ("if", "pure_fia", "fia", "accent")
BATCH_SIZE = 1246
DEFAULT_OUTPUT = pathlib.Path(__file__).resolve().parent / "results" / "explain_time.json"
FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags (only when run as a script, so tests can import this)."""
  flags.DEFINE_bool("quick", False, "Short run (< 2 minutes): fewer users and epochs.")
  flags.DEFINE_integer("users", None, "Users explained in the batched call; default 16 with "
                       "--quick, 50 otherwise.")
  flags.DEFINE_integer("single_users", None, "Users explained one at a time; default 3 with "
                       "--quick, 10 otherwise.")
  flags.DEFINE_integer("epochs", None, "Training epochs; default 2 with --quick, 5 otherwise.")
  flags.DEFINE_integer("replacement_k", 5, "ACCENT's top-k list: the candidate replacements "
                       "are top-2..top-replacement_k.")
  flags.DEFINE_integer("e", 3, "IF explanation size.")
  flags.DEFINE_float("if_damping", 0.01, "Damping of the IF baseline's full Hessian.")
  flags.DEFINE_integer("if_max_iters", None, "MINRES iteration cap of the IF baseline; default "
                       "30 with --quick, 100 otherwise.")
  flags.DEFINE_integer("repeats", None, "Timed batched runs (best kept); default 2 with "
                       "--quick, 3 otherwise.")
  flags.DEFINE_integer("targets_per_batch", 16, "(user, item) pairs vmapped together.")
  flags.DEFINE_list("methods", list(METHODS), "Methods to time.")
  flags.DEFINE_integer("seed", 0, "Seed of the model and the user sample.")
  flags.DEFINE_string("output", str(DEFAULT_OUTPUT), "Where to write the JSON results.")


def _explainer(method: str, model, params, train, widths: dict, options: dict):
  """users -> records for one method, with static pad widths (one compile per batch size).

  Every call builds a fresh `ExplainContext`, so nothing is cached between timed runs (on a
  shared context pure FIA, FIA and ACCENT would compute their influences once)."""
  if method == "if":
    explainer = get_explainer(
        "influence_function", e=options["e"], damping=options["if_damping"],
        max_iters=options["if_max_iters"], targets_per_batch=options["targets_per_batch"],
        history_width=widths["history"], on_fail="ignore")
  else:
    explainer = get_explainer(method, replacement_k=options["replacement_k"],
                              targets_per_batch=options["targets_per_batch"],
                              history_width=widths["history"], item_width=widths["item"])

  def run(users):
    ctx = ExplainContext(model=model, params=params, train=train)
    return explainer.explain(ctx, top1_targets(ctx, np.asarray(users)))

  return run


def _timed(fn, *args) -> tuple[float, object]:
  start = time.perf_counter()
  value = fn(*args)
  return time.perf_counter() - start, value


def time_method(run, users: np.ndarray, single_users: np.ndarray, repeats: int) -> dict:
  """Batched (best of `repeats`) and one-at-a-time seconds per pair; compiles excluded."""
  first_batched, _ = _timed(run, users)
  runs = [_timed(run, users) for _ in range(repeats)]
  batched, records = min(runs, key=lambda pair: pair[0])
  first_single, _ = _timed(run, single_users[:1])
  single_seconds = []
  for user in single_users:
    seconds, _ = _timed(run, [int(user)])
    single_seconds.append(seconds)
  per_pair_batched = batched / len(users)
  per_pair_single = float(np.mean(single_seconds))
  failed = sum(bool(r.extra.get("failed", False)) for r in records)
  sizes = [len(r.deleted_items) for r in records if not r.extra.get("failed", False)]
  cg = [r.extra["cg_converged"] for r in records if "cg_converged" in r.extra]
  cg_iterations = [r.extra["cg_iterations"] for r in records if "cg_iterations" in r.extra]
  return dict(batched_pairs=len(users), batched_seconds=batched,
              all_batched_seconds=[seconds for seconds, _ in runs],
              cg_converged=(sum(cg) if cg else None),
              cg_mean_iterations=(float(np.mean(cg_iterations)) if cg_iterations else None),
              seconds_per_pair_batched=per_pair_batched, single_pairs=len(single_users),
              seconds_per_pair_single=per_pair_single,
              speedup_batched=per_pair_single / per_pair_batched,
              compile_seconds_batched=max(first_batched - batched, 0.0),
              compile_seconds_single=max(first_single - per_pair_single, 0.0),
              failed=failed, mean_set_size=float(np.mean(sizes)) if sizes else None)


def _table(figures: dict) -> str:
  lines = [f"{'method':<10}{'s/pair batched':>16}{'s/pair single':>15}{'speedup':>9}"
           f"{'compile b/s (s)':>18}{'failed':>8}{'size':>6}"]
  for method, row in figures.items():
    size = "-" if row["mean_set_size"] is None else f"{row['mean_set_size']:.2f}"
    lines.append(f"{method:<10}{row['seconds_per_pair_batched']:>16.4f}"
                 f"{row['seconds_per_pair_single']:>15.4f}{row['speedup_batched']:>9.1f}"
                 f"{row['compile_seconds_batched']:>9.1f}/{row['compile_seconds_single']:<8.1f}"
                 f"{row['failed']:>8}{size:>6}")
  return "\n".join(lines)


def main(argv):
  del argv
  quick = FLAGS.quick
  num_users = FLAGS.users or (16 if quick else 50)
  num_single = FLAGS.single_users or (3 if quick else 10)
  epochs = FLAGS.epochs or (2 if quick else 5)
  options = dict(replacement_k=FLAGS.replacement_k, e=FLAGS.e, if_damping=FLAGS.if_damping,
                 if_max_iters=FLAGS.if_max_iters or (30 if quick else 100),
                 targets_per_batch=FLAGS.targets_per_batch)
  train = load("accent-ml100k")
  model = make_model("ncf", train)
  steps = epochs * steps_per_epoch(len(train), BATCH_SIZE)
  seconds, state = _timed(lambda: train_original(model, to_train_data(train),
                                                 RetrainProtocol(steps=steps,
                                                                 batch_size=BATCH_SIZE,
                                                                 seeds=(FLAGS.seed,))))
  params = state.params
  print(f"trained NCF for {epochs} epochs ({steps} steps) in {seconds:.1f}s")
  users = sample_users(train, num_users, min_history=FLAGS.e, seed=FLAGS.seed)
  single_users = users[:num_single]
  widths = dict(history=round_up(train.user_counts.max()), item=round_up(train.item_counts.max()))
  figures = {}
  for method in FLAGS.methods:
    if method not in METHODS:
      raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    run = _explainer(method, model, params, train, widths, options)
    figures[method] = time_method(run, users, single_users, FLAGS.repeats or (2 if quick else 3))
    print(f"{method}: {figures[method]['seconds_per_pair_batched']:.4f} s/pair batched")
  table = _table(figures)
  print(table)
  payload = dict(
      benchmark="explain_time", environment=environment_info(),
      date=time.strftime("%Y-%m-%dT%H:%M:%S"), quick=quick,
      sizes=dict(dataset="accent-ml100k", num_users=train.num_users, num_items=train.num_items,
                 num_rows=len(train), epochs=epochs, steps=steps, batch_size=BATCH_SIZE,
                 batched_users=num_users, single_users=num_single, pad_widths=widths,
                 fia_parameters=4 * model.hparams["dim"], **options),
      note=("Wall-clock seconds per (user, top-1) pair, host records out. Each configuration "
            "is run once untimed on identical shapes first; compile_seconds = first call - "
            "best timed call (batched: best of `repeats`; single: mean over users). IF's MINRES "
            "stops at the tolerance or if_max_iters; cg_converged counts converged pairs. pure_fia, fia and accent each recompute the same FIA influence "
            "matrix (K targets per user); their difference is the host selection rule."),
      figures=figures, table=table)
  output = pathlib.Path(FLAGS.output)
  output.parent.mkdir(parents=True, exist_ok=True)
  output.write_text(json.dumps(payload, indent=2, default=float) + "\n")
  print(f"wrote {output}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
