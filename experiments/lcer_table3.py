"""Wen et al. (LCER), Table 3: KaffesCE and ACCENT vs LCER at a lambda of similar length.

  CFJAX_DATA_DIR=../shared/data python -m experiments.lcer_table3 --dataset=ml-100k \
      [--preset=smoke] [--config.table2_dir=results/lcer_table2/movielens-100k-smoke] \
      [--config.lambdas="(0.01,0.02,0.03)"]

Pipeline: `cfjax.papers.lcer.run_table3`; settings: `experiments/configs/lcer_table3.py`.
"""

from cfjax.papers import lcer
from experiments import cli

if __name__ == "__main__":
  cli.main("lcer_table3", lcer.run_table3)
