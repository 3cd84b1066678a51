"""Simulating counterfactual outcomes (Yao et al., Algorithm 2) with the batched engine.

For each sampled training user u and each sampled deletion D_u, the recommender is retrained
without u's rows of D_u (eq. 1), and u's scores of every item are read out. One retrained
model serves all of u's top-N items (the model reuse trick): for each, the change Delta y is
recorded under all four definitions (eqs. 3, 4, 11, 12; `cfjax.simulate.targets`).

The plan (users x subsets) is cut into blocks of `block_size` models; each block is ONE
`retrain` call and ONE shard of the store, so an interrupted run resumes at the first
unfinished block (see `cfjax.simulate.store`).

With several processes (`cfjax.train.distributed`), every process takes part in every block
(each `retrain` call splits its chunks over the processes and gathers them), process 0 alone
writes the store, process 0's list of finished blocks decides what every process skips, and a
barrier after each block makes the block durable before any process goes on. A run killed in
any process resumes (all processes restarted) at the first block process 0 had not recorded.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from typing import Any, Callable, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

from cfjax import rank
from cfjax.data.interactions import Interactions
from cfjax.models.base import Recommender
from cfjax.simulate import sampling, targets
from cfjax.simulate.store import SimulationStore
from cfjax.train import (RetrainProtocol, distributed, pad_deletions, retrain, to_train_data,
                         user_scores_readout)
from cfjax.types import Params


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
  """How to simulate (Algorithm 2).

  Attributes:
    subsets_per_user: deletion subsets sampled per user (1,000 in the paper).
    deletion_size: items per subset (3 in the paper), or None with `deletion_fraction`.
    deletion_fraction: the ablation's share of the history per subset (0.4), or None.
    top_n: N, the user's top items whose change is recorded (20 in the paper).
    seed: seed of the subset draws.
    retrain_seed: seed of every retrain (the original's seed: paired randomness, so the
      deletion is the only difference from the original).
    steps: optimizer steps per retrain.
    batch_size: rows per step, or None for full batch.
    block_size: models per block (one `retrain` call and one shard).
    chunk_size: models per compiled engine call.
  """

  subsets_per_user: int = 1000
  deletion_size: int | None = 3
  deletion_fraction: float | None = None
  top_n: int = 20
  seed: int = 0
  retrain_seed: int = 0
  steps: int = 600
  batch_size: int | None = None
  block_size: int = 64
  chunk_size: int = 1


@dataclasses.dataclass(frozen=True)
class SimulationPlan:
  """Every model to retrain: model m deletes `deleted_items[m]` of user `users[m]`.

  Attributes:
    users: int64[M] the user of each model (grouped by user, in the order given).
    deleted_items: int64[M, R] item ids, padded with -1.
    num_blocks: ceil(M / block_size).
    block_size: models per block.
  """

  users: np.ndarray
  deleted_items: np.ndarray
  num_blocks: int
  block_size: int

  def block(self, index: int) -> slice:
    """The models of block `index`."""
    return slice(index * self.block_size, min((index + 1) * self.block_size, len(self.users)))


@dataclasses.dataclass(frozen=True)
class SimulationData:
  """The simulated counterfactual dataset D_cf (Algorithm 2's output), one row per model.

  Attributes:
    users: int64[M].
    deleted_items: int64[M, R] padded with -1.
    top_items: int32[M, N] the user's original top-N items (the targets i).
    targets: {"reg", "clf", "rank", "cross"} -> [M, N] (eqs. 3, 4, 11, 12).
    original_rank: int32[M, N]; counterfactual_rank: int32[M, N].
    seconds: retraining seconds summed over the blocks computed by this store.
  """

  users: np.ndarray
  deleted_items: np.ndarray
  top_items: np.ndarray
  targets: dict[str, np.ndarray]
  original_rank: np.ndarray
  counterfactual_rank: np.ndarray
  seconds: float

  @property
  def num_models(self) -> int:
    return len(self.users)


def plan_simulation(train: Interactions, users: Sequence[int],
                    config: SimulationConfig) -> SimulationPlan:
  """Draws every user's deletion subsets (deterministic in config.seed) and cuts blocks."""
  if config.block_size < 1 or config.subsets_per_user < 1:
    raise ValueError("block_size and subsets_per_user must be >= 1; pass positive values")
  all_users, deletions = [], []
  for user in users:
    subsets = sampling.user_subsets(train.history_items(int(user)), int(user),
                                    count=config.subsets_per_user, seed=config.seed,
                                    size=config.deletion_size,
                                    fraction=config.deletion_fraction)
    all_users.extend([int(user)] * len(subsets))
    deletions.extend(subsets)
  width = max(len(d) for d in deletions)
  deleted = np.full((len(deletions), width), -1, dtype=np.int64)
  for m, subset in enumerate(deletions):
    deleted[m, :len(subset)] = subset
  num_blocks = -(-len(all_users) // config.block_size)
  return SimulationPlan(np.asarray(all_users, dtype=np.int64), deleted, num_blocks,
                        config.block_size)


def plan_fingerprint(plan: SimulationPlan, config: SimulationConfig, extra: dict) -> str:
  """SHA-256 over the config, `extra` (e.g. the data and model) and every drawn subset."""
  digest = hashlib.sha256(json.dumps([dataclasses.asdict(config), extra], sort_keys=True,
                                     default=str).encode())
  digest.update(np.ascontiguousarray(plan.users).tobytes())
  digest.update(np.ascontiguousarray(plan.deleted_items).tobytes())
  return digest.hexdigest()


def block_outcomes(original_scores: np.ndarray, counterfactual_scores: np.ndarray,
                   seen: np.ndarray, top_items: np.ndarray) -> dict[str, np.ndarray]:
  """All four targets and both ranks of one block: inputs [M, I], [M, I], [M, I], [M, N]."""
  chex.assert_equal_shape([original_scores, counterfactual_scores, seen])
  chex.assert_rank(top_items, 2)
  as_jnp = [jnp.asarray(a) for a in (original_scores, counterfactual_scores, seen, top_items)]
  outcome = {name: np.asarray(value) for name, value in targets.batched_targets(*as_jnp).items()}
  outcome["original_rank"] = np.asarray(_ranks(as_jnp[0], as_jnp[2], as_jnp[3]))
  outcome["counterfactual_rank"] = np.asarray(_ranks(as_jnp[1], as_jnp[2], as_jnp[3]))
  return outcome


@jax.jit
def _ranks(scores, seen, items):
  """int32[M, N]: ranks of items [M, N] in score rows [M, I]."""
  return jax.vmap(targets.ranks_of)(scores, seen, items)


def simulate(model: Recommender, train: Interactions, params: Params, users: Sequence[int],
             config: SimulationConfig, store_dir: str, *, extra_fingerprint: dict | None = None,
             progress: bool = True,
             after_shard: Callable[[int], Any] | None = None,
             after_block: Callable[[int], Any] | None = None) -> SimulationData:
  """Runs (or resumes) Algorithm 2 into `store_dir` and returns the whole dataset.

  Args:
    model: the recommender.
    train: its training interactions.
    params: the ORIGINAL model's parameters theta-hat (its top-N items are the targets).
    users: the training users U^tr.
    config: the simulation settings.
    store_dir: the store directory (created; reused to resume).
    extra_fingerprint: JSON facts that must match to resume (e.g. dataset, model, steps).
    progress: show the engine's progress bars.
    after_shard, after_block: test hooks (simulate a kill between writes / between blocks).

  Returns:
    The `SimulationData` of every block (each exactly once).
  """
  plan = plan_simulation(train, users, config)
  fingerprint = plan_fingerprint(plan, config, extra_fingerprint or {})
  open_store = functools.partial(SimulationStore.open, store_dir, fingerprint=fingerprint,
                                 config={"simulation": dataclasses.asdict(config),
                                         **(extra_fingerprint or {})},
                                 num_blocks=plan.num_blocks)
  opened = []

  def finished_blocks():  # process 0 opens (checks, repairs) the store; all use its list
    opened.append(open_store())
    return opened[0].finished_blocks()

  done = set(distributed.on_primary(finished_blocks))
  store = opened[0] if opened else open_store(writer=False)
  distinct = np.unique(plan.users)
  original = np.asarray(rank.jitted_scores(model)(params, jnp.asarray(distinct, jnp.int32)))
  seen = rank.seen_rows(train, distinct)
  top = rank.top_k(original, seen, config.top_n)
  row_of = {int(u): n for n, u in enumerate(distinct)}
  data = to_train_data(train)
  retraining = RetrainProtocol(steps=config.steps, batch_size=config.batch_size,
                               seeds=(config.retrain_seed,), chunk_size=config.chunk_size)
  computed = {}  # block -> arrays, kept by the processes that do not write the store
  for block in range(plan.num_blocks):
    if block in done:
      continue
    models = plan.block(block)
    block_users = plan.users[models]
    rows = [train.rows_of(int(u), d[d >= 0]) for u, d in zip(block_users,
                                                              plan.deleted_items[models])]
    start = time.perf_counter()
    result = retrain(model, data, pad_deletions(rows), retraining,
                     readout=user_scores_readout(model),
                     readout_args=block_users.astype(np.int32), progress=progress,
                     description=f"simulating block {block + 1}/{plan.num_blocks}")
    seconds = time.perf_counter() - start
    index = np.asarray([row_of[int(u)] for u in block_users])
    outcome = block_outcomes(original[index], np.asarray(result.outputs)[:, 0], seen[index],
                             top[index])
    arrays = {"users": block_users, "deleted_items": plan.deleted_items[models],
              "top_items": top[index], "seconds": np.full(len(index), seconds / len(index)),
              **outcome}
    store.write_block(block, arrays, after_shard=after_shard)
    if not store.writer:
      computed[block] = arrays
    distributed.barrier(f"simulation block {block} of {fingerprint[:12]}")
    if after_block is not None:
      after_block(block)
  if store.writer:
    return load_simulation(store)
  return _as_simulation(_assembled(store, computed))


def _assembled(store: SimulationStore, computed: dict[int, dict]) -> dict[str, np.ndarray]:
  """Every block's arrays in block order: this run's from memory, earlier runs' from the
  store that process 0 wrote (a reader process needs it on a shared filesystem)."""
  earlier = {int(block) for block in store.finished_blocks()} - set(computed)
  missing = set(range(store.num_blocks)) - earlier - set(computed)
  if missing:
    raise ValueError(f"blocks {sorted(missing)[:5]} of {store.path} are not readable by process "
                     f"{distributed.process_index()}; put the store on a filesystem every "
                     "process sees")
  parts = [computed[block] if block in computed else store.read_block(block)
           for block in range(store.num_blocks)]
  return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def load_simulation(store: SimulationStore) -> SimulationData:
  """The dataset held by a store's finished blocks."""
  arrays = store.read_blocks()
  if not arrays:
    raise ValueError(f"{store.path} has no finished block; run simulate() first")
  return _as_simulation(arrays)


def _as_simulation(arrays: dict[str, np.ndarray]) -> SimulationData:
  """`SimulationData` of the concatenated block arrays."""
  return SimulationData(
      users=arrays["users"], deleted_items=arrays["deleted_items"],
      top_items=arrays["top_items"],
      targets={name: arrays[name] for name in targets.DEFINITIONS},
      original_rank=arrays["original_rank"], counterfactual_rank=arrays["counterfactual_rank"],
      seconds=float(arrays["seconds"].sum()))
