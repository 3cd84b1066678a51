"""An append-only, interruption-safe store of simulated counterfactual outcomes.

Layout of a store directory:
  manifest.json        {"fingerprint", "config", "num_blocks",
                        "blocks": {id: {"file": name, "sha256": digest}}}
  block_00000.npz ...  one shard per finished block of retrains

A block's shard is written under a private temporary name, fsynced and renamed into place,
THEN the manifest is rewritten the same way (`cfjax.util.atomic_write_bytes`). Only blocks
listed in the manifest count, and only while their bytes match the SHA-256 it records: a run
killed after a shard's rename but before the manifest's leaves an orphan shard that the resumed
run recomputes and overwrites; a truncated or altered shard is named in a warning and
recomputed; an unreadable manifest is named and the store starts over. So a killed or damaged
run resumes where it can, losing nothing valid and counting nothing twice.

With several processes (`cfjax.train.distributed`) only process 0 reads the manifest to decide
and only process 0 writes (a store opened with `writer=False` touches no file until it reads
finished blocks at the end), so shards and manifest never clash;
`cfjax.simulate.generate.simulate` broadcasts process 0's finished blocks (or its error) to
the others.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pathlib
import warnings

import numpy as np

from cfjax.train import distributed
from cfjax.util import atomic_write_bytes, to_json

MANIFEST = "manifest.json"


class StoreDamagedWarning(UserWarning):
  """A store file was unreadable or altered and is being rebuilt (the message names it)."""


def shard_name(block: int) -> str:
  """The file name of block `block`'s shard."""
  return f"block_{block:05d}.npz"


def _read_manifest(path: pathlib.Path) -> dict | None:
  """The manifest, None if there is none, or {} (after a warning) if it is unreadable."""
  try:
    manifest = json.loads((path / MANIFEST).read_text())
    if not isinstance(manifest, dict) or "fingerprint" not in manifest:
      raise ValueError("not a store manifest")
    return manifest
  except FileNotFoundError:
    return None
  except (OSError, ValueError) as error:
    warnings.warn(f"{path / MANIFEST} is unreadable ({error}); the simulation store starts "
                  "over", StoreDamagedWarning, stacklevel=3)
    return {}


def _another_plan(path: pathlib.Path, manifest: dict, fingerprint: str) -> ValueError:
  return ValueError(f"{path} holds a simulation with another plan (fingerprint "
                    f"{manifest['fingerprint'][:12]} != {fingerprint[:12]}); pass a new store "
                    "directory or delete this one")


@dataclasses.dataclass(frozen=True)
class SimulationStore:
  """A store directory bound to one simulation plan (by its fingerprint).

  Attributes:
    path: the directory.
    fingerprint: a digest of the plan (config and every drawn subset); a store made for
      another plan refuses to open.
    config: the JSON config saved beside the shards.
    num_blocks: how many blocks the plan has.
    writer: whether this process writes the store (process 0 of a multi-process run).
  """

  path: pathlib.Path
  fingerprint: str
  config: dict
  num_blocks: int
  writer: bool = True

  @staticmethod
  def matches(path: str | os.PathLike, fingerprint: str) -> bool | None:
    """Whether the store at `path` was made for `fingerprint` (None: no usable store there).

    With several processes this is process 0's answer, and the other processes get None for
    a store of another plan: process 0 alone rebuilds (or refuses) it, so they never delete
    files under each other.
    """

    def answer():
      manifest = _read_manifest(pathlib.Path(path)) if pathlib.Path(path).is_dir() else None
      return None if not manifest else manifest["fingerprint"] == fingerprint

    matching = distributed.on_primary(answer)
    return None if matching is False and not distributed.is_primary() else matching

  @classmethod
  def open(cls, path: str | os.PathLike, *, fingerprint: str, config: dict,
           num_blocks: int, writer: bool = True) -> "SimulationStore":
    """Opens (or creates) a store; raises if it holds another plan's blocks.

    Blocks whose shard is missing, unreadable or not the bytes the manifest recorded are
    dropped from the manifest (with a warning naming them), so they are simulated again.
    A reader (`writer=False`, the other processes of a multi-process run) touches no file.
    """
    path = pathlib.Path(path)
    store = cls(path, fingerprint, json.loads(to_json(config)), int(num_blocks), writer)
    if not writer:
      return store
    path.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(path)
    if not manifest:
      store._write_manifest({})
      return store
    if manifest["fingerprint"] != fingerprint:
      raise _another_plan(path, manifest, fingerprint)
    blocks = manifest.get("blocks", {})
    intact = {block: entry for block, entry in blocks.items() if store._intact(block, entry)}
    if len(intact) != len(blocks):
      store._write_manifest(intact)
    return store

  def _intact(self, block: str, entry) -> bool:
    """Whether a listed block's shard exists with the recorded SHA-256 (else a warning)."""
    file = self.path / (entry["file"] if isinstance(entry, dict) else str(entry))
    try:
      ok = isinstance(entry, dict) and hashlib.sha256(file.read_bytes()).hexdigest() == \
          entry.get("sha256")
    except OSError:
      ok = False
    if not ok:
      warnings.warn(f"{file} (block {block}) is missing, altered or from an older store "
                    "format; simulating it again", StoreDamagedWarning, stacklevel=4)
    return ok

  def _write_manifest(self, blocks: dict) -> None:
    manifest = {"fingerprint": self.fingerprint, "config": self.config,
                "num_blocks": self.num_blocks, "blocks": dict(sorted(blocks.items()))}
    atomic_write_bytes(self.path / MANIFEST, to_json(manifest).encode())

  def _blocks(self) -> dict:
    return (_read_manifest(self.path) or {}).get("blocks", {})

  def finished_blocks(self) -> list[int]:
    """Ids of the blocks the manifest lists (the only ones that count)."""
    return sorted(int(b) for b in self._blocks())

  def is_complete(self) -> bool:
    """Whether every block of the plan is finished."""
    return len(self.finished_blocks()) == self.num_blocks

  def write_block(self, block: int, arrays: dict[str, np.ndarray],
                  after_shard=None) -> None:
    """Writes one block's shard, then records it and its SHA-256 in the manifest (both
    atomically).

    Args:
      block: the block id in [0, num_blocks).
      arrays: name -> array (numeric arrays only).
      after_shard: test hook called between the shard's rename and the manifest's.
    """
    if not 0 <= block < self.num_blocks:
      raise ValueError(f"block {block} is outside [0, {self.num_blocks}); pass a block of the plan")
    if not self.writer:
      return
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    payload = buffer.getvalue()
    atomic_write_bytes(self.path / shard_name(block), payload)
    if after_shard is not None:
      after_shard(block)
    blocks = dict(self._blocks())
    blocks[str(block)] = {"file": shard_name(block),
                          "sha256": hashlib.sha256(payload).hexdigest()}
    self._write_manifest(blocks)

  def read_block(self, block: int) -> dict[str, np.ndarray]:
    """One finished block's arrays."""
    with np.load(self.path / self._blocks()[str(block)]["file"]) as shard:
      return {name: shard[name] for name in shard.files}

  def read_blocks(self) -> dict[str, np.ndarray]:
    """The finished blocks' arrays concatenated along axis 0, in block order."""
    parts = []
    for block, entry in sorted(self._blocks().items(), key=lambda item: int(item[0])):
      with np.load(self.path / entry["file"]) as shard:
        parts.append({name: shard[name] for name in shard.files})
    if not parts:
      return {}
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
