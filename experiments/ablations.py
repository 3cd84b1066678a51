"""`python -m experiments.ablations` from a clone: the same as `cfjax ablations`
(cfjax/experiments/ablations.py)."""

from cfjax.experiments import ablations

if __name__ == "__main__":
  ablations.main()
