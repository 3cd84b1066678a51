"""Wen et al. (LCER), Figures 8-9: LCER's Val, Len, PS, PN and F_NS as lambda or alpha varies.

  CFJAX_DATA_DIR=../shared/data cfjax lcer_sweep --dataset=ml-100k \
      [--preset=smoke] [--config.table2_dir=results/lcer_table2/movielens-100k-smoke]

Writes sweep.csv and the figures sweep_lambda.png / sweep_alpha.png (with matplotlib) beside
the usual results files. Pipeline: `cfjax.papers.lcer.run_sweep`; settings:
`configs/lcer_sweep.py`.

(From a clone, `python -m experiments.lcer_sweep` is the same.)
"""

from cfjax.experiments import cli
from cfjax.papers import lcer


def main(argv: list[str] | None = None) -> None:
  """Runs lcer_sweep: `argv` is the program name and its flags (default: sys.argv)."""
  cli.main("lcer_sweep", lcer.run_sweep, argv)


if __name__ == "__main__":
  main()
