"""Yao et al.'s Table 3: counterfactual validity of surrogate explanations vs. baselines.

  CFJAX_DATA_DIR=../shared/data python -m experiments.table3 --dataset=movielens|amazon \
      --model=mf|ncf|all --preset=smoke|default|paper

Pipeline: `cfjax.papers.yao.run_table3`; settings: `experiments/configs/table3.py`.
"""

from cfjax.papers import yao
from experiments import cli

if __name__ == "__main__":
  cli.main("table3", yao.run_table3)
