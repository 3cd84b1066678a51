"""Peak RSS of retraining full-batch MF on ML-1M by the number of models vmapped together.

One process per measurement (peak RSS only grows): loads ML-1M (70/30 split: 700,146 training
rows), retrains `chunk` random 3-row deletions of biased MF (dim 16) for 10 full-batch Adam
steps with `vector_width` models vmapped together, reads out one user's scores, and prints one
JSON line with the peak RSS after loading and at the end (`cfjax.util.peak_rss`). Run:

  for w in 1 4 8; do python -m benchmarks.ml1m_memory $w 8; done

(`CFJAX_DATA_DIR` as for every runner.) docs/engine.md holds the figures of record.
"""
import json
import os
import sys
import time

import numpy as np

from cfjax import data as cfdata
from cfjax.models import make_model
from cfjax.train import RetrainProtocol, retrain, to_train_data
from cfjax.train.batched import user_scores_readout
from cfjax.util import peak_rss


def main(width: int, chunk: int) -> dict:
  start = time.perf_counter()
  full = cfdata.load("ml-1m", data_dir=os.environ.get("CFJAX_DATA_DIR"))
  train, _ = cfdata.random_split(full, train_fraction=0.7, seed=0)
  data = to_train_data(train)
  model = make_model("mf", train, dim=16)
  after_load = peak_rss()["peak_rss_mib"]
  rng = np.random.default_rng(0)
  rows = np.stack([rng.choice(len(train.user), 3, replace=False) for _ in range(chunk)])
  retrain(model, data, rows, RetrainProtocol(steps=10, seeds=[0], chunk_size=chunk),
          vector_width=width, readout=user_scores_readout(model),
          readout_args=np.zeros(chunk, np.int32), progress=False)
  return dict(vector_width=width, chunk=chunk, rows=len(train.user), users=train.num_users,
              items=train.num_items, rss_after_load_mib=after_load,
              peak_rss_mib=peak_rss()["peak_rss_mib"],
              seconds=round(time.perf_counter() - start, 1))


if __name__ == "__main__":
  if len(sys.argv) != 3:
    raise SystemExit("usage: python -m benchmarks.ml1m_memory VECTOR_WIDTH CHUNK")
  print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]))), flush=True)
