"""`python -m experiments.lcer_table2` from a clone: the same as `cfjax lcer_table2`
(cfjax/experiments/lcer_table2.py)."""

from cfjax.experiments import lcer_table2

if __name__ == "__main__":
  lcer_table2.main()
