"""Wen et al. (LCER), Table 2: FIA, KaffesCE, ACCENT and LCER on Mult-VAE, top-5 and top-10.

  CFJAX_DATA_DIR=../shared/data python -m experiments.lcer_table2 --dataset=ml-100k \
      [--preset=smoke] [--config.lam=0.01 --config.alpha=0.1 --config.methods="('lcer',)"]

Pipeline: `cfjax.papers.lcer.run_table2`; settings: `experiments/configs/lcer_table2.py`.
"""

from cfjax.papers import lcer
from experiments import cli

if __name__ == "__main__":
  cli.main("lcer_table2", lcer.run_table2)
