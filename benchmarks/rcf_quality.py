"""RCF's quality on ACCENT's test triples, and how personalised its top-1 is.

  CFJAX_DATA_DIR=../shared/data python -m benchmarks.rcf_quality \
      results/accent_table1/accent-ml100k-rcf-default/config.json

Loads the trained original an accent_table1 --model=rcf run saved (the path in its
config.json) and writes benchmarks/results/rcf_quality.json with: the test pair accuracy (the
share of test.csv's (u, i+, i-) triples with f(u, i+) > f(u, i-), the measure of ACCENT's
RCF/src/test_rcf.py), the hit rate at 5 (a test positive among the user's top 5 items not in
the training history, RCF's evaluate), and the number of distinct top-1 items over the 452
users with the share of the most common one.
"""

import json
import pathlib
import sys
import time

import flax
import jax
import jax.numpy as jnp
import numpy as np

from cfjax.data import load
from cfjax.models import make_model
from cfjax.train.fit import init_state


def main(config_path: str) -> dict:
  record = json.loads(pathlib.Path(config_path).read_text())
  data = load("accent-rcf")
  hparams = {k: v for k, v in record["model_hparams"].items() if k != "optimizer"}
  model = make_model("rcf", data, **{**hparams, "layers": tuple(hparams["layers"])})
  path = pathlib.Path(record["metrics"]["original_model"])
  original = flax.serialization.from_bytes(init_state(model, jax.random.PRNGKey(0)),
                                           path.read_bytes())
  scores_fn = jax.jit(model.scores)
  tick = time.perf_counter()
  scores = np.concatenate([np.asarray(scores_fn(original.params, jnp.arange(
      u, min(u + 4, data.num_users)))) for u in range(0, data.num_users, 4)])
  test = data.test
  seen = np.zeros_like(scores, bool)
  seen[data.user, data.item] = True
  masked = np.where(seen, -np.inf, scores)
  top1 = masked.argmax(1)
  fifth = -np.sort(-masked, axis=1)[:, 4]
  pairs = np.unique(test[:, :2], axis=0)
  counts = np.bincount(top1)
  out = {"original": str(path), "original_spec": record["original_spec"],
         "test_pair_accuracy": float(np.mean(scores[test[:, 0], test[:, 1]]
                                             > scores[test[:, 0], test[:, 2]])),
         "test_triples": int(len(test)),
         "hit_rate_at_5": float(np.mean(scores[pairs[:, 0], pairs[:, 1]] >= fifth[pairs[:, 0]])),
         "test_positives": int(len(pairs)),
         "distinct_top1": int((counts > 0).sum()),
         "top1_most_common_share": float(counts.max() / len(top1)),
         "users": int(data.num_users), "score_seconds": time.perf_counter() - tick}
  target = pathlib.Path("benchmarks/results/rcf_quality.json")
  target.write_text(json.dumps(out, indent=2) + "\n")
  print(json.dumps(out))
  return out


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit("usage: python -m benchmarks.rcf_quality <accent_table1 rcf run>/config.json")
  main(sys.argv[1])
