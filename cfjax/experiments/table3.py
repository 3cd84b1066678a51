"""Yao et al.'s Table 3: counterfactual validity of surrogate explanations vs. baselines.

  CFJAX_DATA_DIR=../shared/data cfjax table3 --dataset=movielens|amazon \
      --model=mf|ncf|all --preset=smoke|default|paper

Pipeline: `cfjax.papers.yao.run_table3`; settings: `configs/table3.py`.

(From a clone, `python -m experiments.table3` is the same.)
"""

from cfjax.experiments import cli
from cfjax.papers import yao


def main(argv: list[str] | None = None) -> None:
  """Runs table3: `argv` is the program name and its flags (default: sys.argv)."""
  cli.main("table3", yao.run_table3, argv)


if __name__ == "__main__":
  main()
