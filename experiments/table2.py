"""Yao et al.'s Table 2: seconds per explanation, one at a time and batched.

  CFJAX_DATA_DIR=../shared/data python -m experiments.table2 --preset=smoke|default \
      [--config.table3_dir=<a finished experiments.table3 output_dir with these settings>]

Pipeline: `cfjax.papers.yao.run_table2`; settings: `experiments/configs/table2.py`.
"""

from cfjax.papers import yao
from experiments import cli

if __name__ == "__main__":
  cli.main("table2", yao.run_table2)
