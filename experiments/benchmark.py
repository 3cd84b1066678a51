"""`python -m experiments.benchmark` from a clone: the same as `cfjax benchmark`
(cfjax/experiments/benchmark.py)."""

from cfjax.experiments import benchmark

if __name__ == "__main__":
  benchmark.main()
