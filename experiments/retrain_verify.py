"""`python -m experiments.retrain_verify` from a clone: the same as `cfjax retrain_verify`
(cfjax/experiments/retrain_verify.py)."""

from cfjax.experiments import retrain_verify

if __name__ == "__main__":
  retrain_verify.main()
