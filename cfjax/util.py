"""The bottom layer: atomic file writes, JSON values, a stopwatch and the code version.

Every other module that writes a file that a later run reads back (results, caches, stores,
downloads) writes it through `atomic_write_bytes`: a temporary name private to this process
and call, fsync, then `os.replace`, so a killed run never leaves a half-written file under the
final name and two processes never share a temporary file. Imports nothing from cfjax.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import math
import os
import pathlib
import resource
import subprocess
import sys
import time
import uuid
import warnings
from typing import Any, Iterator

import numpy as np

from cfjax.version import __version__

PACKAGE_ROOT = pathlib.Path(__file__).resolve().parent


def check_int(value, name: str, minimum: int | None = None) -> int:
  """`value` as an int if it is an integer (not a bool, not 2.5) >= `minimum`, else a
  one-line ValueError naming `name`."""
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
    raise ValueError(f"{name} must be an integer, got {value!r}; pass an int")
  if minimum is not None and value < minimum:
    raise ValueError(f"{name}={value} must be >= {minimum}")
  return int(value)


def check_number(value, name: str, minimum: float | None = None,
                 maximum: float | None = None) -> float:
  """`value` as a float if it is a finite real number (not a bool) in [minimum, maximum],
  else a one-line ValueError naming `name`."""
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                   np.floating)):
    raise ValueError(f"{name} must be a number, got {value!r}")
  value = float(value)
  if not math.isfinite(value):
    raise ValueError(f"{name}={value} must be a finite number")
  if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
    low = "-inf" if minimum is None else f"{minimum:g}"
    high = "inf" if maximum is None else f"{maximum:g}"
    bounds = f"[{low}, {high}]"
    raise ValueError(f"{name}={value:g} must lie in {bounds}")
  return value


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> None:
  """Writes `payload` to `path` atomically (private temp name, fsync, rename); makes parents."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
  try:
    with open(temporary, "wb") as f:
      f.write(payload)
      f.flush()
      os.fsync(f.fileno())
    os.replace(temporary, path)
  finally:
    temporary.unlink(missing_ok=True)


class DamagedFileWarning(UserWarning):
  """A saved file does not match the checksum recorded beside it; it is being rebuilt."""


def _checksum_path(path: pathlib.Path) -> pathlib.Path:
  return path.with_name(path.name + ".sha256")


def save_checked(path: str | os.PathLike, payload: bytes) -> None:
  """Writes `payload` atomically and its SHA-256 beside it (`<file>.sha256`), for files a
  later run reloads (caches, resumable work); `load_checked` then notices any damage."""
  path = pathlib.Path(path)
  atomic_write_bytes(path, payload)
  atomic_write_text(_checksum_path(path), hashlib.sha256(payload).hexdigest() + "\n")


def load_checked(path: str | os.PathLike) -> bytes | None:
  """What `save_checked` wrote, or None if nothing was saved there, or None after a
  `DamagedFileWarning` naming the file if its bytes (or checksum) are truncated, altered or
  unreadable, so the caller computes it again."""
  path = pathlib.Path(path)
  if not path.is_file():
    return None
  try:
    payload = path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != _checksum_path(path).read_text().strip():
      raise ValueError("its SHA-256 differs from the one saved with it")
    return payload
  except (OSError, ValueError) as error:
    warn_damaged(path, error)
    return None


def warn_damaged(path: str | os.PathLike, error: Exception) -> None:
  """The one warning for a damaged saved file that is about to be rebuilt."""
  warnings.warn(f"{path} is damaged ({type(error).__name__}: {error}); computing it again",
                DamagedFileWarning, stacklevel=3)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
  """`atomic_write_bytes` of UTF-8 text."""
  atomic_write_bytes(path, text.encode("utf-8"))


def jsonable(value: Any) -> Any:
  """Numpy scalars/arrays, tuples, dataclasses -> plain JSON values; NaN/inf -> None.

  Non-finite floats become None (JSON has no NaN; a bare NaN in a config file is a silent
  error waiting to happen).
  """
  if dataclasses.is_dataclass(value) and not isinstance(value, type):
    value = dataclasses.asdict(value)
  if isinstance(value, dict):
    return {str(k): jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple, np.ndarray)):
    return [jsonable(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
  if isinstance(value, (bool, np.bool_)):
    return bool(value)
  if isinstance(value, (int, np.integer)):
    return int(value)
  if isinstance(value, (float, np.floating)):
    return float(value) if math.isfinite(value) else None
  if value is None or isinstance(value, str):
    return value
  if hasattr(value, "to_dict"):  # ml_collections.ConfigDict
    return jsonable(value.to_dict())
  return str(value)


def to_json(value: Any) -> str:
  """Canonical JSON text of `jsonable(value)`: sorted keys, two-space indent, final newline."""
  return json.dumps(jsonable(value), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike, value: Any) -> None:
  """Writes `to_json(value)` atomically."""
  atomic_write_text(path, to_json(value))


def digest(value: Any, length: int = 16) -> str:
  """A short SHA-256 hex digest of the canonical JSON of `value` (for cache keys)."""
  return hashlib.sha256(to_json(value).encode()).hexdigest()[:length]


@dataclasses.dataclass
class Stopwatch:
  """Wall time of a `with timed() as watch:` block, in `watch.seconds` (live while running)."""

  start: float = dataclasses.field(default_factory=time.perf_counter)
  stop: float | None = None

  @property
  def seconds(self) -> float:
    return (self.stop if self.stop is not None else time.perf_counter()) - self.start


@contextlib.contextmanager
def timed() -> Iterator[Stopwatch]:
  """Times a block: `with timed() as watch: ...`, then `watch.seconds`."""
  watch = Stopwatch()
  try:
    yield watch
  finally:
    watch.stop = time.perf_counter()


def peak_rss() -> dict:
  """Peak resident memory so far, in MiB: {"peak_rss_mib": this process,
  "peak_rss_children_mib": its largest finished child} (`getrusage`'s ru_maxrss, KiB on
  Linux and bytes on macOS)."""
  unit = 2.0**-20 if sys.platform == "darwin" else 2.0**-10
  own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
  children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * unit
  return {"peak_rss_mib": round(own, 1), "peak_rss_children_mib": round(children, 1)}


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
  """SHA-256 (16 hex digits) of every .py file of the cfjax package, by relative path.

  Changes whenever the library's code changes, committed or not, so cached results made by
  other code are never reused.
  """
  h = hashlib.sha256()
  for path in sorted(PACKAGE_ROOT.rglob("*.py")):
    h.update(str(path.relative_to(PACKAGE_ROOT)).encode() + b"\0")
    h.update(path.read_bytes() + b"\0")
  return h.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
  """The git commit of the source tree (with "-dirty" if it has changes), or None."""
  try:
    run = functools.partial(subprocess.run, cwd=PACKAGE_ROOT.parent, capture_output=True,
                            text=True, timeout=10, check=True)
    commit = run(["git", "rev-parse", "HEAD"]).stdout.strip()
    dirty = run(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return None
  return commit + ("-dirty" if dirty else "") if commit else None


def code_version() -> dict:
  """{"cfjax", "git_commit", "source_sha256"}: what results depend on besides config and data."""
  return {"cfjax": __version__, "git_commit": git_commit(), "source_sha256": source_hash()}
