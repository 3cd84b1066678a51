"""`python -m experiments.table2` from a clone: the same as `cfjax table2`
(cfjax/experiments/table2.py)."""

from cfjax.experiments import table2

if __name__ == "__main__":
  table2.main()
