"""Clone shims: `python -m experiments.<runner>` is `cfjax <runner>`; the runners, their
configs and flags live in the package, `cfjax.experiments` (installed with it)."""
