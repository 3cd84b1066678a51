"""Top-N accuracy (Recall@K, NDCG@K, distinct top-1 items) of a recommender.

  CFJAX_DATA_DIR=../shared/data python -m experiments.topn --dataset=movielens --model=ease

Pipeline: `cfjax.workflows.topn`; settings (per-dataset presets): `experiments/configs/topn.py`.
"""

from cfjax.workflows import topn
from experiments import cli

if __name__ == "__main__":
  cli.main("topn", topn.run)
