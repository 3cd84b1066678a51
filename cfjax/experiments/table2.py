"""Yao et al.'s Table 2: seconds per explanation, one at a time and batched.

  CFJAX_DATA_DIR=../shared/data cfjax table2 --preset=smoke|default \
      [--config.table3_dir=<a finished table3 output_dir with these settings>]

Pipeline: `cfjax.papers.yao.run_table2`; settings: `configs/table2.py`.

(From a clone, `python -m experiments.table2` is the same.)
"""

from cfjax.experiments import cli
from cfjax.papers import yao


def main(argv: list[str] | None = None) -> None:
  """Runs table2: `argv` is the program name and its flags (default: sys.argv)."""
  cli.main("table2", yao.run_table2, argv)


if __name__ == "__main__":
  main()
