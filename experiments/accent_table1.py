"""ACCENT's Table 1 for NCF: pure FIA, FIA and ACCENT at k = 5, 10, 20, verified by retraining.

  CFJAX_DATA_DIR=../shared/data python -m experiments.accent_table1 [--preset=smoke]

Pipeline: `cfjax.papers.accent`; settings: `experiments/configs/accent_table1.py`.
"""

from cfjax.papers import accent
from experiments import cli

if __name__ == "__main__":
  cli.main("accent_table1", accent.run)
