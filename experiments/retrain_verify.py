"""Verify simple explanations by retraining: knn vs. a random placebo vs. the noise floor.

  CFJAX_DATA_DIR=../shared/data python -m experiments.retrain_verify [--preset=smoke]

Pipeline: `cfjax.workflows.retrain_verify`; settings: `experiments/configs/retrain_verify.py`.
"""

from cfjax.workflows import retrain_verify
from experiments import cli

if __name__ == "__main__":
  cli.main("retrain_verify", retrain_verify.run)
