"""Top-N accuracy (Recall@K, NDCG@K, distinct top-1 items) of a recommender.

  CFJAX_DATA_DIR=../shared/data cfjax topn --dataset=movielens --model=ease

Pipeline: `cfjax.workflows.topn`; settings (per-dataset presets): `configs/topn.py`.

(From a clone, `python -m experiments.topn` is the same.)
"""

from cfjax.experiments import cli
from cfjax.workflows import topn


def main(argv: list[str] | None = None) -> None:
  """Runs topn: `argv` is the program name and its flags (default: sys.argv)."""
  cli.main("topn", topn.run, argv)


if __name__ == "__main__":
  main()
