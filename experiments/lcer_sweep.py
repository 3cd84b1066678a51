"""`python -m experiments.lcer_sweep` from a clone: the same as `cfjax lcer_sweep`
(cfjax/experiments/lcer_sweep.py)."""

from cfjax.experiments import lcer_sweep

if __name__ == "__main__":
  lcer_sweep.main()
