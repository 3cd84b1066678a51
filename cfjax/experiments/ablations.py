"""Yao et al.'s ablations (sec. 6.3): other target definitions, DeepSets, 40 % deletions.

  CFJAX_DATA_DIR=../shared/data cfjax ablations --preset=smoke|default

Pipeline: `cfjax.papers.yao.run_ablations`; settings: `configs/ablations.py`.

(From a clone, `python -m experiments.ablations` is the same.)
"""

from cfjax.experiments import cli
from cfjax.papers import yao


def main(argv: list[str] | None = None) -> None:
  """Runs ablations: `argv` is the program name and its flags (default: sys.argv)."""
  cli.main("ablations", yao.run_ablations, argv)


if __name__ == "__main__":
  main()
