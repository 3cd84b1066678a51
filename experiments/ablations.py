"""Yao et al.'s ablations (sec. 6.3): other target definitions, DeepSets, 40 % deletions.

  CFJAX_DATA_DIR=../shared/data python -m experiments.ablations --preset=smoke|default

Pipeline: `cfjax.papers.yao.run_ablations`; settings: `experiments/configs/ablations.py`.
"""

from cfjax.papers import yao
from experiments import cli

if __name__ == "__main__":
  cli.main("ablations", yao.run_ablations)
