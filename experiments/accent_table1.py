"""`python -m experiments.accent_table1` from a clone: the same as `cfjax accent_table1`
(cfjax/experiments/accent_table1.py)."""

from cfjax.experiments import accent_table1

if __name__ == "__main__":
  accent_table1.main()
