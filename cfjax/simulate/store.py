"""An append-only, interruption-safe store of simulated counterfactual outcomes.

Layout of a store directory:
  manifest.json        {"fingerprint", "config", "num_blocks", "blocks": {id: file}}
  block_00000.npz ...  one shard per finished block of retrains

A block's shard is written to a temporary file and renamed into place, THEN the manifest is
rewritten the same way (write temp, os.replace: atomic on POSIX). Only blocks listed in the
manifest count: a run killed after a shard's rename but before the manifest's leaves an
orphan shard that the resumed run simply recomputes and overwrites. So a killed run resumes
where it stopped, losing nothing and counting nothing twice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any

import numpy as np

MANIFEST = "manifest.json"


def _atomic_write_bytes(path: pathlib.Path, payload: bytes) -> None:
  temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
  with open(temporary, "wb") as f:
    f.write(payload)
    f.flush()
    os.fsync(f.fileno())
  os.replace(temporary, path)


def shard_name(block: int) -> str:
  """The file name of block `block`'s shard."""
  return f"block_{block:05d}.npz"


@dataclasses.dataclass(frozen=True)
class SimulationStore:
  """A store directory bound to one simulation plan (by its fingerprint).

  Attributes:
    path: the directory.
    fingerprint: a digest of the plan (config and every drawn subset); a store made for
      another plan refuses to open.
    config: the JSON config saved beside the shards.
    num_blocks: how many blocks the plan has.
  """

  path: pathlib.Path
  fingerprint: str
  config: dict
  num_blocks: int

  @classmethod
  def open(cls, path: str | os.PathLike, *, fingerprint: str, config: dict,
           num_blocks: int) -> "SimulationStore":
    """Opens (or creates) a store; raises if it holds another plan's blocks."""
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    store = cls(path, fingerprint, json.loads(json.dumps(config)), int(num_blocks))
    manifest = store._read_manifest()
    if manifest is None:
      store._write_manifest({})
    elif manifest["fingerprint"] != fingerprint:
      raise ValueError(f"{path} holds a simulation with another plan (fingerprint "
                       f"{manifest['fingerprint'][:12]} != {fingerprint[:12]}); pass a new "
                       "store directory or delete this one")
    return store

  def _read_manifest(self) -> dict | None:
    try:
      return json.loads((self.path / MANIFEST).read_text())
    except FileNotFoundError:
      return None

  def _write_manifest(self, blocks: dict[str, str]) -> None:
    manifest = {"fingerprint": self.fingerprint, "config": self.config,
                "num_blocks": self.num_blocks, "blocks": dict(sorted(blocks.items()))}
    _atomic_write_bytes(self.path / MANIFEST,
                        (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())

  def finished_blocks(self) -> list[int]:
    """Ids of the blocks the manifest lists (the only ones that count)."""
    manifest = self._read_manifest() or {"blocks": {}}
    return sorted(int(b) for b in manifest["blocks"])

  def is_complete(self) -> bool:
    """Whether every block of the plan is finished."""
    return len(self.finished_blocks()) == self.num_blocks

  def write_block(self, block: int, arrays: dict[str, np.ndarray],
                  after_shard: Any = None) -> None:
    """Writes one block's shard, then records it in the manifest (both atomically).

    Args:
      block: the block id in [0, num_blocks).
      arrays: name -> array (numeric arrays only).
      after_shard: test hook called between the shard's rename and the manifest's.
    """
    if not 0 <= block < self.num_blocks:
      raise ValueError(f"block {block} is outside [0, {self.num_blocks}); pass a block of the plan")
    temporary = self.path / f".{shard_name(block)}.tmp-{os.getpid()}"
    with open(temporary, "wb") as f:
      np.savez(f, **arrays)
      f.flush()
      os.fsync(f.fileno())
    os.replace(temporary, self.path / shard_name(block))
    if after_shard is not None:
      after_shard(block)
    manifest = self._read_manifest() or {"blocks": {}}
    blocks = dict(manifest["blocks"])
    blocks[str(block)] = shard_name(block)
    self._write_manifest(blocks)

  def read_blocks(self) -> dict[str, np.ndarray]:
    """The finished blocks' arrays concatenated along axis 0, in block order."""
    parts = []
    for block in self.finished_blocks():
      with np.load(self.path / shard_name(block)) as shard:
        parts.append({name: shard[name] for name in shard.files})
    if not parts:
      return {}
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
