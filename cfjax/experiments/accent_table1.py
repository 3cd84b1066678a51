"""ACCENT's Table 1 for NCF: pure FIA, FIA and ACCENT at k = 5, 10, 20, verified by retraining.

  CFJAX_DATA_DIR=../shared/data cfjax accent_table1 [--preset=smoke]

Pipeline: `cfjax.papers.accent`; settings: `configs/accent_table1.py`.

(From a clone, `python -m experiments.accent_table1` is the same.)
"""

from cfjax.experiments import cli
from cfjax.papers import accent


def main(argv: list[str] | None = None) -> None:
  """Runs accent_table1: `argv` is the program name and its flags (default: sys.argv)."""
  cli.main("accent_table1", accent.run, argv)


if __name__ == "__main__":
  main()
