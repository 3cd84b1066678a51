"""How often adaptive methods find a MINIMAL explanation: against `exhaustive` on small histories.

Workload: a synthetic rating set (`cfjax.data.make_synthetic`, users with 5-8 training rows),
a biased MF trained full batch with Adam on a cosine schedule to 0 (a fixed point). Each
sampled user's top-1 is explained by `exhaustive` (every subset of size 1..3 retrained under
the original's seed: the exact minimal sets), then by the adaptive methods; the comparison is
`cfjax.evaluate.minimality` (minimal: the set is one of the exact minimal sets; excess: its
size minus the minimal size). Run:

  CFJAX_DATA_DIR=/work/shared/data python -m benchmarks.minimality_bench [--users=16]

Writes benchmarks/results/minimality_synthetic.json.
"""

from __future__ import annotations

import json
import pathlib
import time

from absl import app
from absl import flags
import numpy as np

from cfjax.data import make_synthetic
from cfjax.evaluate import environment_info
from cfjax.evaluate.minimality import minimality
from cfjax.explain import ExplainContext, get_explainer, run_explainer, top1_targets
from cfjax.models import make_mf
from cfjax.train import RetrainProtocol, to_train_data, train_original

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
FLAGS = flags.FLAGS
flags.DEFINE_integer("users", 16, "targets (users with at most --max_history rows)")
flags.DEFINE_integer("max_history", 8, "longest history explained")
flags.DEFINE_integer("steps", 200, "MF training steps (cosine to 0 over all of them)")
flags.DEFINE_string("output", str(RESULTS / "minimality_synthetic.json"), "summary JSON")

METHODS = {
    "metagrad_adaptive": dict(max_e=3),
    "certified": dict(max_size=3, beam=2, budget=8),  # proposer: metagrad
    "certified_paired": dict(max_size=3, beam=2, budget=8, seed_offset=0),
    "certified_if": dict(proposer="influence_function", max_size=3, beam=2, budget=8),
}


def main(argv):
  del argv
  data = make_synthetic(num_users=60, num_items=50, density=0.1, seed=5, min_per_user=5)
  steps = FLAGS.steps
  model = make_mf(data.num_users, data.num_items, dim=8, schedule="cosine", decay_steps=steps)
  spec = RetrainProtocol(steps=steps, batch_size=None, seeds=(0,))
  original = train_original(model, to_train_data(data), spec)
  ctx = ExplainContext.from_original(model, data, original, spec)
  small = np.flatnonzero(data.user_counts <= FLAGS.max_history)[: FLAGS.users]
  targets = top1_targets(ctx, small)
  timings = {}
  start = time.perf_counter()
  exact = run_explainer(get_explainer("exhaustive", max_size=3, max_subsets=100), ctx, targets)
  timings["exhaustive"] = (time.perf_counter() - start) / len(targets)
  records = []
  for label, options in METHODS.items():
    name = label if label == "metagrad_adaptive" else "certified"
    start = time.perf_counter()
    found = run_explainer(get_explainer(name, **options), ctx, targets)
    timings[label] = (time.perf_counter() - start) / len(targets)
    records += [type(r)(r.user, r.item, r.deleted_items, r.replacement, label, r.extra)
                for r in found]
  rows = minimality(records, exact)
  sizes = [r.extra["minimal_size"] for r in exact]
  summary = {
      "command": "python -m benchmarks.minimality_bench --users=%d --max_history=%d "
                 "--steps=%d" % (FLAGS.users, FLAGS.max_history, steps),
      "data": {"users": data.num_users, "items": data.num_items, "rows": len(data)},
      "targets": len(targets),
      "minimal_size_counts": {str(s): sizes.count(s) for s in sorted(set(sizes), key=str)},
      "exhaustive_retrains": int(sum(r.extra["retrains"] for r in exact)),
      "rows": rows, "seconds_per_target": timings, "environment": environment_info()}
  path = pathlib.Path(FLAGS.output)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(summary, indent=1, default=float))
  for row in rows:
    print(row)
  print(f"wrote {path}")


if __name__ == "__main__":
  app.run(main)
