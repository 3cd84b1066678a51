"""The domain of every model hyperparameter, checked before a model is built.

A value outside its domain does not fail loudly later: MF with `l2=-1` trains to a loss of
-5540 (the penalty rewards large weights) and then verifies "explanations" against scores of
1e6. `check_domains` refuses such a value in one line naming the model, the value and what is
allowed, before any work. One table for every model, so a new hyperparameter name needs one
row here rather than one check per factory.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable


def _finite(value) -> bool:
  return (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value))


def _positive(value) -> bool:
  return _finite(value) and value > 0


def _non_negative(value) -> bool:
  return _finite(value) and value >= 0


def _count(value) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def _widths(value) -> bool:
  return isinstance(value, (tuple, list)) and all(_count(width) for width in value)


# name -> (test, what is allowed); a name not listed here is not checked.
DOMAINS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "dim": (_count, "a whole number >= 1"),
    "hidden": (_count, "a whole number >= 1"),
    "latent": (_count, "a whole number >= 1"),
    "attention": (_count, "a whole number >= 1"),
    "num_layers": (lambda v: _count(v) or v == 0, "a whole number >= 0"),
    "mlp_layers": (_widths, "a tuple of whole numbers >= 1"),
    "layers": (_widths, "a tuple of whole numbers >= 1"),
    "l2": (_non_negative, "a finite number >= 0"),
    "weight_decay": (_non_negative, "a finite number >= 0"),
    "reg_t": (_non_negative, "a finite number >= 0"),
    "learning_rate": (_positive, "a finite number > 0"),
    "init_std": (_positive, "a finite number > 0"),
    "global_mean": (_finite, "a finite number"),
    "dropout_keep": (lambda v: _finite(v) and 0 < v <= 1, "a number in (0, 1]"),
    "decay_steps": (lambda v: v is None or _count(v), "None or a whole number >= 1"),
}


def check_domains(model: str, **hparams) -> None:
  """Raises a one-line ValueError for the first hyperparameter outside its domain.

  Args:
    model: the model's name, for the message.
    **hparams: name -> value, as passed to the model's factory.

  Raises:
    ValueError: "model 'mf': l2=-1 is outside its domain (a finite number >= 0); pass ...".
  """
  for name, value in hparams.items():
    if name in DOMAINS:
      test, allowed = DOMAINS[name]
      if not test(value):
        raise ValueError(f"model {model!r}: {name}={value!r} is outside its domain ({allowed}); "
                         f"pass {name}=<{allowed}>")
