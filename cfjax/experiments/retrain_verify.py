"""Verify simple explanations by retraining: knn vs. a random placebo vs. the noise floor.

  CFJAX_DATA_DIR=../shared/data cfjax retrain_verify [--preset=smoke]

Pipeline: `cfjax.workflows.retrain_verify`; settings: `configs/retrain_verify.py`.

(From a clone, `python -m experiments.retrain_verify` is the same.)
"""

from cfjax.experiments import cli
from cfjax.workflows import retrain_verify


def main(argv: list[str] | None = None) -> None:
  """Runs retrain_verify: `argv` is the program name and its flags (default: sys.argv)."""
  cli.main("retrain_verify", retrain_verify.run, argv)


if __name__ == "__main__":
  main()
