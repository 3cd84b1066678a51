"""Benchmarks of the batched retraining engine (run them as modules, e.g.
`python -m benchmarks.retrains_per_sec --quick`)."""
