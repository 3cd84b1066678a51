"""The retrain-verified benchmark: every registered explainer that fits each model, one protocol.

  CFJAX_DATA_DIR=../shared/data python -m experiments.benchmark --preset=smoke|default|paper \
      [--models=mf,ncf,multvae] [--datasets=movielens,amazon]

Writes leaderboard.md, rows.csv, table.json and one results directory per (dataset, model)
with its figure. Pipeline: `cfjax.workflows.benchmark.run`; settings:
`experiments/configs/benchmark.py`; the protocol: docs/benchmark.md.
"""

from cfjax.workflows import benchmark
from experiments import cli

if __name__ == "__main__":
  cli.main("benchmark", benchmark.run)
