"""`python -m experiments.table3` from a clone: the same as `cfjax table3`
(cfjax/experiments/table3.py)."""

from cfjax.experiments import table3

if __name__ == "__main__":
  table3.main()
