"""Shared fixtures: tiny data and models, so XLA compiles stay small and are shared."""

import os
import pathlib

# XLA compile time dominates the suite, and many modules compile the same small programs
# (`_release_compiled_programs` below drops the in-memory cache between modules). JAX's
# persistent compilation cache keeps every compiled program on disk, keyed by its HLO, the
# JAX/XLA versions, the backend and the flags, so a program compiled once is loaded, not
# recompiled, by later modules, by runner subprocesses (they inherit these variables) and by
# later runs. Set before JAX is imported; CFJAX_TEST_COMPILATION_CACHE=off disables it.
if os.environ.get("CFJAX_TEST_COMPILATION_CACHE", "on") != "off":
  _cache_root = pathlib.Path(os.environ.get("CFJAX_CACHE_DIR")
                             or pathlib.Path.home() / ".cache" / "cfjax")
  os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_cache_root / "jax-tests"))
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")

import numpy as np  # noqa: E402
import pytest

from cfjax.models import make_mf, make_ncf
from cfjax.train import TrainData
import jax.numpy as jnp

TINY_USERS, TINY_ITEMS, TINY_ROWS = 12, 15, 120


def tiny_rows(seed: int = 0):
  """120 distinct (user, item) rows with ratings 1..5; every user has >= 5 rows."""
  rng = np.random.default_rng(seed)
  pairs = rng.permutation(TINY_USERS * TINY_ITEMS)[:TINY_ROWS]
  user, item = np.divmod(pairs, TINY_ITEMS)
  user[:TINY_USERS * 5] = np.repeat(np.arange(TINY_USERS), 5)  # guarantee short histories
  pairs = np.unique(user * TINY_ITEMS + item)
  user, item = np.divmod(pairs, TINY_ITEMS)
  rating = rng.integers(1, 6, len(user)).astype(np.float32)
  return user.astype(np.int32), item.astype(np.int32), rating


@pytest.fixture(scope="session")
def tiny_data():
  user, item, rating = tiny_rows()
  return TrainData(jnp.asarray(user), jnp.asarray(item), jnp.asarray(rating))


@pytest.fixture(scope="session")
def tiny_mf():
  return make_mf(TINY_USERS, TINY_ITEMS, dim=4, learning_rate=0.05)


@pytest.fixture(scope="session")
def tiny_ncf():
  return make_ncf(TINY_USERS, TINY_ITEMS, dim=4, mlp_layers=(4, 2), learning_rate=0.01)


def needs_data(folder: str, *files: str):
  """A skip marker unless CFJAX_DATA_DIR holds `folder/` with `files` (plus `realdata`)."""
  import os
  import pathlib
  root = os.environ.get("CFJAX_DATA_DIR")
  present = bool(root) and all((pathlib.Path(root) / folder / f).is_file() for f in files)
  reason = f"needs {folder}/{', '.join(files)} under CFJAX_DATA_DIR"
  return [pytest.mark.realdata, pytest.mark.skipif(not present, reason=reason)]


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
  """Drops JAX's compiled programs after each test module. One pytest process compiles
  thousands of programs; keeping them all made XLA's compiler crash (a segfault in
  backend_compile) near the end of a full run. Fixtures are shared within a module, so
  clearing between modules costs few recompiles."""
  yield
  import gc

  import jax

  jax.clear_caches()
  gc.collect()
