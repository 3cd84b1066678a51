"""Type aliases and the axis-letter glossary used across cfjax.

Axis letters (docstrings, shape checks and comments use the same ones):
  M models (one per deletion), S seeds, U users, I items, N interactions (training rows),
  B batch, K top-k, D latent dimension, R deleted rows per model.
Shapes are written like `scores: [M, S, I]`.
"""

from typing import Any

import jax

Params = Any  # a pytree of arrays
OptState = Any  # an optax optimizer state pytree
PRNGKey = jax.Array
Array = jax.Array
