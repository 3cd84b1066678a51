"""The retrain-verified benchmark: every registered explainer that fits each model, one protocol.

  CFJAX_DATA_DIR=../shared/data cfjax benchmark --preset=smoke|default|paper \
      [--models=mf,ncf,multvae] [--datasets=movielens,amazon]

Writes leaderboard.md, rows.csv, table.json and one results directory per (dataset, model)
with its figure. Pipeline: `cfjax.workflows.benchmark.run`; settings:
`configs/benchmark.py`; the protocol: docs/benchmark.md.

(From a clone, `python -m experiments.benchmark` is the same.)
"""

from cfjax.experiments import cli
from cfjax.workflows import benchmark


def main(argv: list[str] | None = None) -> None:
  """Runs benchmark: `argv` is the program name and its flags (default: sys.argv)."""
  cli.main("benchmark", benchmark.run, argv)


if __name__ == "__main__":
  main()
