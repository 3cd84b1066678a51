"""Experiment runners (absl apps): `python -m experiments.<name>`."""
