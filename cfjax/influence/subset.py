"""Parameter subsets: influence over a few embedding rows instead of the whole model.

Fast Influence Analysis (FIA, Cheng et al., KDD 2019) and ACCENT (Tran et al., 2021) restrict
the influence function of a prediction f(u, i) to the parameters of the target user and
item, theta_s = [embedding rows of u and i] (64 numbers for ACCENT's NCF: 4 tables x 16).
A `ParamSubset` names those entries; `select` flattens them into theta_s: [P] and `embed`
writes a theta_s back into the full params, so the loss over the subset is

  L_s(theta_s) = L(embed(theta_s, params)),

whose gradient and Hessian are the theta_s blocks of the full gradient and Hessian. Row
indices are pytree data, so a subset built from traced (vmapped) user/item ids works.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

import flax
import jax
import jax.numpy as jnp

from cfjax.models.base import Recommender
from cfjax.types import Array, Params

Path = tuple[str, ...]


def _lookup(params: Params, path: Path) -> Array:
  try:
    return functools.reduce(lambda tree, key: tree[key], path, params)
  except (KeyError, TypeError, IndexError):
    raise ValueError(f"ParamSubset: params have no entry at path {path}; name a leaf such as "
                     f"{_first_path(params)}") from None


def _first_path(params: Params) -> Path:
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  if not leaves:
    return ()
  return tuple(getattr(key, "key", getattr(key, "name", key)) for key in leaves[0][0])


def _replace(tree, path: Path, value):
  """A copy of the nested dict `tree` with the leaf at `path` replaced by `value`."""
  if not path:
    return value
  key, rest = path[0], path[1:]
  child = _replace(tree[key], rest, value)
  if isinstance(tree, flax.core.FrozenDict):
    return tree.copy({key: child})
  return {**tree, key: child}


@flax.struct.dataclass
class ParamSubset:
  """Selected entries of a params pytree: whole leaves or single rows of leaves.

  Attributes:
    paths: static; for each entry, the key path of a leaf, e.g. ("gmf_user", "embedding").
    whole: static; for each entry, True to take the whole leaf, False to take one row.
    rows: int32[E] row index of each entry (ignored where `whole`); may be traced.
  Entries must not overlap (the same row twice would be written back twice).
  """

  paths: tuple[Path, ...] = flax.struct.field(pytree_node=False)
  whole: tuple[bool, ...] = flax.struct.field(pytree_node=False)
  rows: Array

  def _pieces(self, params: Params) -> list[Array]:
    pieces = []
    for e, (path, whole) in enumerate(zip(self.paths, self.whole)):
      leaf = _lookup(params, path)
      pieces.append(leaf if whole else leaf[self.rows[e]])
    return pieces

  def size(self, params: Params) -> int:
    """P, the number of selected scalars (static)."""
    return sum(piece.size for piece in jax.eval_shape(self._pieces, params))

  def select(self, params: Params) -> Array:
    """theta_s: [P], the selected entries flattened and concatenated in entry order."""
    return jnp.concatenate([jnp.ravel(piece) for piece in self._pieces(params)])

  def embed(self, theta_s: Array, params: Params) -> Params:
    """Writes theta_s: [P] back into a copy of `params` (the inverse of `select`)."""
    offset = 0
    for e, (path, whole) in enumerate(zip(self.paths, self.whole)):
      leaf = _lookup(params, path)
      shape = leaf.shape if whole else leaf.shape[1:]
      count = math.prod(shape)
      piece = theta_s[offset: offset + count].reshape(shape).astype(leaf.dtype)
      offset += count
      params = _replace(params, path, piece if whole else leaf.at[self.rows[e]].set(piece))
    if offset != theta_s.shape[0]:
      raise ValueError(f"ParamSubset.embed: theta_s has {theta_s.shape[0]} entries but the "
                       f"subset selects {offset}; pass the output of select(params)")
    return params

  def restrict(self, loss_fn: Callable[[Params], Array],
               params: Params) -> tuple[Callable[[Array], Array], Array]:
    """The loss over the subset, L_s(theta_s) = L(embed(theta_s, params)), and theta_s."""
    return (lambda theta_s: loss_fn(self.embed(theta_s, params))), self.select(params)


def _as_path(path) -> Path:
  if isinstance(path, str):
    return tuple(path.split("/"))
  return tuple(path)


def row_subset(entries: Sequence[tuple[Path | str, Array | int | None]]) -> ParamSubset:
  """Builds a `ParamSubset` from (path, row) pairs.

  Args:
    entries: each (path, row): `path` a key tuple into the params dict such as
      ("gmf_user", "embedding") or the string "gmf_user/embedding"; `row` an int or traced
      int32 scalar selecting that row of the leaf, or None to select the whole leaf.

  Returns:
    The subset; theta_s lists the entries in the given order.
  """
  if not entries:
    raise ValueError("row_subset: no entries given; pass at least one (path, row) pair")
  paths = tuple(_as_path(path) for path, _ in entries)
  whole = tuple(row is None for _, row in entries)
  rows = jnp.stack([jnp.asarray(0 if row is None else row, jnp.int32) for _, row in entries])
  return ParamSubset(paths=paths, whole=whole, rows=rows)


def target_subset(model: Recommender, user: Array | int, item: Array | int) -> ParamSubset:
  """FIA's parameters of a prediction f(u, i): the rows the model's `related_rows` hook names.

  For NCF (ACCENT): rows u of gmf_user and mlp_user, rows i of gmf_item and mlp_item
  (4 x dim entries, 64 for ACCENT); for MF: user_factors[u], item_factors[i], user_bias[u],
  item_bias[i] (2 x dim + 2 entries).

  Args:
    model: the recommender; it must provide the `related_rows` hook.
    user: target user id (may be traced).
    item: target item id (may be traced).

  Returns:
    The subset.

  Raises:
    MissingHookError: if the model has no `related_rows` hook.
  """
  related_rows = model.require("related_rows", "FIA's parameter subset (subset='target')")
  return row_subset(related_rows(user, item))
