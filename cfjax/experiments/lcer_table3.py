"""Wen et al. (LCER), Table 3: KaffesCE and ACCENT vs LCER at a lambda of similar length.

  CFJAX_DATA_DIR=../shared/data cfjax lcer_table3 --dataset=ml-100k \
      [--preset=smoke] [--config.table2_dir=results/lcer_table2/movielens-100k-smoke] \
      [--config.lambdas="(0.01,0.02,0.03)"]

Pipeline: `cfjax.papers.lcer.run_table3`; settings: `configs/lcer_table3.py`.

(From a clone, `python -m experiments.lcer_table3` is the same.)
"""

from cfjax.experiments import cli
from cfjax.papers import lcer


def main(argv: list[str] | None = None) -> None:
  """Runs lcer_table3: `argv` is the program name and its flags (default: sys.argv)."""
  cli.main("lcer_table3", lcer.run_table3, argv)


if __name__ == "__main__":
  main()
