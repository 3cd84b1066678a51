"""Wen et al. (LCER), Table 2: FIA, KaffesCE, ACCENT and LCER on Mult-VAE, top-5 and top-10.

  CFJAX_DATA_DIR=../shared/data cfjax lcer_table2 --dataset=ml-100k \
      [--preset=smoke] [--config.lam=0.01 --config.alpha=0.1 --config.methods="('lcer',)"]

Pipeline: `cfjax.papers.lcer.run_table2`; settings: `configs/lcer_table2.py`.

(From a clone, `python -m experiments.lcer_table2` is the same.)
"""

from cfjax.experiments import cli
from cfjax.papers import lcer


def main(argv: list[str] | None = None) -> None:
  """Runs lcer_table2: `argv` is the program name and its flags (default: sys.argv)."""
  cli.main("lcer_table2", lcer.run_table2, argv)


if __name__ == "__main__":
  main()
