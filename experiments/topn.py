"""`python -m experiments.topn` from a clone: the same as `cfjax topn`
(cfjax/experiments/topn.py)."""

from cfjax.experiments import topn

if __name__ == "__main__":
  topn.main()
