"""The skeleton every pipeline runs on: one `Run` into a results directory, and its parts.

A pipeline (`cfjax.papers.*`, `cfjax.workflows.*`) is

  with Run.held(workdir) as run:            # the directory's lock: a second run stops at once
    ...check, load, build the config record...
    done = run.finished(record)             # config.json's record; a finished run's table
    if done is not None:
      return done                           # resume: nothing is recomputed
    work = run.work_dir()                   # resumable intermediate files (same settings only)
    ctx, training = original_context(...)   # the trained original (cached) -> ExplainContext
    with run.section("verify_s"):           # named, timed sections -> config.json's timings
      ...
    return run.write(table=..., markdown=..., records=..., rows=..., metrics=...)

`run_config` makes the record (settings, data checksum, code version, environment, facts),
`trained_original` trains or loads the original, `engine_chunk_size` picks the engine's chunk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import time
from typing import Any, Iterator

import flax.serialization
import jax

from cfjax import util
from cfjax.data import data_checksum
from cfjax.data.interactions import Interactions
from cfjax.evaluate.results import ResultsDir, provenance
from cfjax.explain import ExplainContext
from cfjax.models.base import Recommender
from cfjax.train import (RetrainProtocol, TrainState, init_state, models_per_call, seed_keys,
                         to_train_data, train_original, train_original_exact)
from cfjax.train.health import check_training

# Config fields that never change a result: where the results and the data live.
LOCATION_KEYS = ("output_dir", "data_dir", "cache_dir")


class Run:
  """One pipeline run into a results directory: its lock, its config record, resume, its work
  directory, timed sections, and one write at the end (see the module docstring).

  Attributes:
    results: the `ResultsDir`.
    path: its path.
    record: config.json's record (`finished` sets it).
    timings: section name -> seconds (`section`), written into config.json's timings.
  """

  def __init__(self, workdir: str | os.PathLike):
    self.results = ResultsDir(workdir)
    self.path = self.results.path
    self.record: dict | None = None
    self.timings: dict[str, float] = {}
    self._start = time.perf_counter()

  @classmethod
  @contextlib.contextmanager
  def held(cls, workdir: str | os.PathLike) -> Iterator["Run"]:
    """A run holding `workdir`'s lock while the block runs: a second run into the same
    directory stops at once (`DirectoryBusyError`) instead of mixing its files with ours."""
    run = cls(workdir)
    with run.results.locked():
      yield run

  @property
  def seconds(self) -> float:
    """Seconds since the run started."""
    return time.perf_counter() - self._start

  def finished(self, record: dict) -> dict | None:
    """Keeps `record` as config.json's; returns the table of a finished run in this directory
    made with the same record (what table.json holds), else None."""
    self.record = record
    return self.results.finished(record)

  def work_dir(self, settings: dict | None = None, name: str = "work") -> pathlib.Path:
    """The sub-directory of resumable intermediate files, kept only while made with the same
    `settings` (default: the record); otherwise emptied first (`ResultsDir.work_dir`)."""
    return self.results.work_dir(self.record if settings is None else settings, name)

  @contextlib.contextmanager
  def section(self, name: str) -> Iterator[util.Stopwatch]:
    """Times a block into `timings[name]` (added to, if the name was timed before)."""
    with util.timed() as watch:
      yield watch
    self.timings[name] = self.timings.get(name, 0.0) + watch.seconds

  def write(self, *, table: dict, markdown: str, records=(), rows=(), **facts) -> dict:
    """Writes the results once (`ResultsDir.write`): config.json = the record updated with
    `facts` (e.g. metrics=...), its timings = the sections, facts["timings"] and total_s.

    Returns:
      The table as table.json holds it (JSON keys), what `finished` returns later.
    """
    record = {**self.record, **facts}
    record["timings"] = {**self.timings, **facts.get("timings", {}), "total_s": self.seconds}
    return self.results.write(config=record, records=list(records), rows=list(rows),
                              table=table, markdown=markdown)


def settings_of(config: Any) -> dict:
  """The config as a plain dict without its location fields (what results depend on)."""
  settings = config.to_dict() if hasattr(config, "to_dict") else dict(config)
  return {k: v for k, v in settings.items() if k not in LOCATION_KEYS}


def data_info(data: Interactions) -> dict:
  """{"name", "sha256", "rows", "users", "items"} of the data a run used."""
  return {"name": data.name, "sha256": data_checksum(data), "rows": len(data),
          "users": data.num_users, "items": data.num_items}


def run_config(config: Any, data: Interactions, **facts) -> dict:
  """A config.json: the settings, the data, the code version and environment, and `facts`."""
  return {"config": settings_of(config), "data": data_info(data), **provenance(), **facts}


def original_context(model: Recommender, train: Interactions, spec: RetrainProtocol, *,
                     cache_dir: str | os.PathLike | None = None, exact_chunk: int | None = None,
                     **context) -> tuple[ExplainContext, dict]:
  """The trained original (`trained_original`: cached, checked) as an `ExplainContext`
  (`ctx.original` is its `TrainState`); `context` goes to `ExplainContext.from_original`
  (e.g. simulation=).

  Returns:
    (the context, `trained_original`'s facts: seconds, cache, loaded, losses).
  """
  original, training = trained_original(model, train, spec, cache_dir=cache_dir,
                                        exact_chunk=exact_chunk)
  return ExplainContext.from_original(model, train, original, spec, **context), training


def engine_chunk_size(chunk_size: int | None, batch_size: int | None) -> int:
  """Models per compiled engine call: the engine's one rule (`cfjax.train.models_per_call`)."""
  return models_per_call(chunk_size, batch_size)


def trained_original(model: Recommender, train: Interactions, spec: RetrainProtocol, *,
                     cache_dir: str | os.PathLike | None = None,
                     exact_chunk: int | None = None) -> tuple[TrainState, dict]:
  """The original model trained under `spec`, from a cache when one was saved before.

  The cache file is keyed by everything the trained state depends on: the model's name and
  hyperparameters, the data checksum, the spec, how it was trained (alone, or inside an
  engine chunk of `exact_chunk` models so paired retrains reproduce it bitwise) and the
  library's source hash. Its SHA-256 is kept beside it (`cfjax.util.save_checked`); a file
  that does not match it or does not load (truncated, corrupt) is named in a warning and
  retrained. A freshly trained original whose loss diverged stops the run
  (`cfjax.train.health.check_training`).

  Args:
    model: the recommender.
    train: its training interactions.
    spec: steps, batch size and seed.
    cache_dir: where trained originals are kept (None: no cache).
    exact_chunk: train through `train_original_exact(chunk_size=exact_chunk)` instead of alone.

  Returns:
    (the `TrainState`, {"seconds": training time (0 if loaded), "cache": path or None,
    "loaded": whether it came from the cache, and, when trained now, the losses at init and
    after training}).
  """
  key = {"model": model.name, "hparams": model.hparams, "data_sha256": data_checksum(train),
         "spec": dataclasses.asdict(spec), "exact_chunk": exact_chunk,
         "code": util.source_hash()}
  path = None if cache_dir is None else (
      pathlib.Path(cache_dir) / f"{model.name}-{util.digest(key)}.msgpack")
  payload = None if path is None else util.load_checked(path)
  if payload is not None:
    try:
      state = flax.serialization.from_bytes(init_state(model, jax.random.PRNGKey(0)), payload)
      return state, {"seconds": 0.0, "cache": str(path), "loaded": True}
    except Exception as error:  # noqa: BLE001 (msgpack raises many types on bad bytes)
      util.warn_damaged(path, error)
  data = to_train_data(train)
  with util.timed() as watch:
    if exact_chunk is None:
      state = train_original(model, data, spec, check=False)  # checked below, with numbers
    else:
      state = train_original_exact(model, data, spec.with_chunk_size(exact_chunk), check=False)
    state = jax.block_until_ready(state)
  health = check_training(model, data, initial=model.init(seed_keys(spec.seed)[0]),
                          trained=state.params, steps=spec.steps)
  if path is not None:
    util.save_checked(path, flax.serialization.to_bytes(state))
  return state, {"seconds": watch.seconds, "cache": None if path is None else str(path),
                 "loaded": False, **health}
