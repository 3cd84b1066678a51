"""`python -m experiments.lcer_table3` from a clone: the same as `cfjax lcer_table3`
(cfjax/experiments/lcer_table3.py)."""

from cfjax.experiments import lcer_table3

if __name__ == "__main__":
  lcer_table3.main()
