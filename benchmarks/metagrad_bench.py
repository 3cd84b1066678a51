"""Metagradient vs knn vs the influence function (and certified) in the retrain-verified benchmark.

The benchmark pipeline (`cfjax.workflows.benchmark.run`) on MovieLens 100K with a biased MF
whose Adam step size decays to 0 along a cosine (a fixed point: where a metagradient means
something, `cfjax.explain.metagrad`), each sampled test user's top-1 explained at e = 3,
verified by the paired scratch protocol only (warm continuation after a decayed schedule
changes nothing, so the warm column would be empty), at K = 1, with the same-size random
placebo and the noise floor beside every method, and the LDS of every method with
attributions. Afterwards: McNemar tests of metagrad against knn and against the influence
function on per-target net outcomes, and certified's spent retrains. Run (in the background;
~20-30 min on a shared 2-core CPU at --users=30):

  CFJAX_DATA_DIR=/work/shared/data nohup python -m benchmarks.metagrad_bench --users=30 \
      > metagrad_bench.log 2>&1 &

Writes benchmarks/results/metagrad/ (the pipeline's results directory) and
benchmarks/results/metagrad_ml100k_mf.json (the summary).
"""

from __future__ import annotations

import json
import pathlib
import time

from absl import app
from absl import flags
import numpy as np

from cfjax.evaluate import environment_info, significance
from cfjax.evaluate import leaderboard as lb
from cfjax.workflows import benchmark
from cfjax.records import Explanation, VerifiedRecord, load_records
from cfjax.experiments.configs.benchmark import get_config

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
FLAGS = flags.FLAGS
flags.DEFINE_integer("users", 30, "targets (sampled test users' top-1)")
flags.DEFINE_integer("steps", 300, "MF training steps (the cosine decays over all of them)")
flags.DEFINE_integer("lds_users", 6, "targets of the LDS (0: no LDS)")
flags.DEFINE_integer("lds_subsets", 8, "random half-history deletions per LDS target")
flags.DEFINE_string("output", str(RESULTS / "metagrad_ml100k_mf.json"), "summary JSON")
flags.DEFINE_string("workdir", str(RESULTS / "metagrad"), "the pipeline's results directory")


def config_for(users: int, steps: int, lds_users: int, lds_subsets: int):
  """The benchmark config of this measurement (see the module docstring)."""
  config = get_config("default")
  config.datasets = ("movielens-100k",)
  config.models = ("mf",)
  config.users = users
  config.budgets = (3,)
  config.ks = (1,)
  config.methods = ("metagrad", "knn", "influence_function", "certified")
  config.method_options.metagrad = {"targets_per_batch": 8}
  config.method_options.certified = {"max_size": 5, "beam": 1, "budget": 6,
                                     "proposer_options": {"targets_per_batch": 8}}
  config.model_settings.mf.steps = steps
  config.model_settings.mf.hparams = {"schedule": "cosine", "decay_steps": steps}
  for name in ("warm_paired", "scratch_cross"):
    del config.protocols[name]
  config.lds.update(users=lds_users, subsets=lds_subsets)
  return config


def mcnemar_between(verified, users, a: str, b: str, k: int = 1) -> dict:
  """McNemar on per-target net outcomes of methods a and b at e = 3 (or their own size)."""
  table = lb.outcomes(verified, users, [k])
  key = lambda m: next(key for key in table if key[0] == m)
  first, second = table[key(a)].net[k], table[key(b)].net[k]
  result = significance.mcnemar(first, second)
  return {"a": a, "b": b, "a_net": float(first.mean()), "b_net": float(second.mean()),
          "p_value": result.p_value}


def main(argv):
  del argv
  config = config_for(FLAGS.users, FLAGS.steps, FLAGS.lds_users, FLAGS.lds_subsets)
  config.output_dir = FLAGS.workdir
  start = time.perf_counter()
  table = benchmark.run(config, config.output_dir)
  seconds = time.perf_counter() - start
  cell = table["cells"]["movielens-100k/mf"]
  work = next(pathlib.Path(config.output_dir).glob("movielens-100k-mf/work/verified_"
                                                    "scratch_paired.jsonl"), None)
  explained = next(pathlib.Path(config.output_dir).glob("movielens-100k-mf/work/"
                                                        "explanations.jsonl"), None)
  summary = {"command": "python -m benchmarks.metagrad_bench --users=%d --steps=%d "
                        "--lds_users=%d --lds_subsets=%d" % (FLAGS.users, FLAGS.steps,
                                                             FLAGS.lds_users, FLAGS.lds_subsets),
             "wall_seconds": seconds, "config": config.to_dict(),
             "environment": environment_info(), "rows": cell["rows"], "lds": cell["lds"],
             "facts": cell["facts"]}
  if work is not None:
    verified = load_records(work, VerifiedRecord)
    try:
      users = [int(u) for u in dict.fromkeys(int(r.user) for r in load_records(
          explained, Explanation))]
      summary["mcnemar"] = [mcnemar_between(verified, users, "metagrad", other)
                            for other in ("knn", "influence_function")]
    except (StopIteration, KeyError, AttributeError) as error:
      summary["mcnemar_error"] = repr(error)
  if explained is not None:
    certified = [r for r in load_records(explained, Explanation) if r.method == "certified"]
    if certified:
      summary["certified"] = {
          "targets": len(certified),
          "certified": int(sum(r.extra["certified"] for r in certified)),
          "mean_size": float(np.mean([len(r.deleted_items) for r in certified])),
          "mean_size_certified": float(np.mean([len(r.deleted_items) for r in certified
                                                if r.extra["certified"]] or [np.nan])),
          "mean_retrains": float(np.mean([r.extra["retrains"] for r in certified])),
          "control_moved": int(sum(r.extra["control_moved"] for r in certified)),
          "check_seed": certified[0].extra["check_seed"]}
  path = pathlib.Path(FLAGS.output)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(summary, indent=1, default=float))
  print(f"wrote {path} ({seconds:.0f} s)")


if __name__ == "__main__":
  app.run(main)
