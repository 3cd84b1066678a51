"""The `Explainer` protocol, its context and targets, and the registry of explainers by name.

Every method in cfjax has one call shape:

    explainer = get_explainer("accent", replacement_k=5)
    records = explainer.explain(ctx, targets)      # one `Explanation` per target, in order

`ctx` (`ExplainContext`) carries the trained model and its training data, how it was trained
(for methods that retrain or simulate), and a cache that methods share (FIA influences, a
fitted surrogate, simulated outcomes), so pure FIA, FIA and ACCENT computed on one context
pay for their influences once. `targets` (`Targets`) are (user, item) pairs, batched inside
each method.

A method declares the model hooks it needs (`requires`, see `cfjax.models.base`); a model
without one of them gets a one-line `MissingHookError` before any work. A new method is one
file with a frozen dataclass that has `name`, `requires`, `explain` and its `cost` class
(`COSTS`), and one `register("name")` line; `cfjax.explain` imports every module of the
package, so the file is found without being listed anywhere.

Attributions (optional; `has_attributions`). A method that scores items may also provide

    attributions(ctx, targets) -> list[dict[int, float]]      # one dict per target, in order

where each dict maps EVERY item of the target user's training history (exactly those keys)
to a finite number: the method's predicted DECREASE of the target's score margin if that
item alone were deleted (and the model retrained, or an amortised model's input edited).
The margin of target (u, i) is f(u, i) - max_{j unseen by u, j != i} f(u, j); positive =
deleting the item pushes the target down. Methods whose native quantity is another monotone
proxy (a score change, a similarity, a learned importance) say so in their docstring. The
attribution-quality test (`cfjax.evaluate.lds`, the linear datamodeling score of Park et al.
2023) sums these over random deleted subsets and rank-correlates the sums with retrained
margin decreases. The `Explainer` protocol itself does not include `attributions`.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, Callable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from cfjax import rank
from cfjax.data.interactions import Interactions
from cfjax.data.raw_ids import all_with_raw_ids
from cfjax.models.base import MissingHookError, Recommender
from cfjax.records import Explanation
from cfjax.registry import Registry
from cfjax.train.fit import TrainState
from cfjax.train.protocol import RetrainProtocol
from cfjax.types import Params


def _ids(values: Any, what: str) -> np.ndarray:
  array = np.asarray(values)
  if array.dtype == bool or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
    raise ValueError(f"{what} must be integer ids, got dtype {array.dtype}; pass ints")
  return array.astype(np.int64).ravel()


@dataclasses.dataclass(frozen=True, eq=False)
class Targets:
  """The recommendations to explain: (user, item) pairs, batched.

  Attributes:
    users: int64[B] dense user ids.
    items: int64[B] the recommended item of each user (unseen by the user in training).
  """

  users: np.ndarray
  items: np.ndarray

  def __post_init__(self):
    users, items = _ids(self.users, "target users"), _ids(self.items, "target items")
    if users.shape != items.shape:
      raise ValueError(f"{users.size} target users but {items.size} items; pass one item per "
                       "user")
    object.__setattr__(self, "users", users)
    object.__setattr__(self, "items", items)

  @classmethod
  def from_pairs(cls, pairs: Sequence[tuple[int, int]]) -> "Targets":
    """Targets from [(user, item), ...]."""
    pairs = list(pairs)
    return cls(np.asarray([int(u) for u, _ in pairs], np.int64),
               np.asarray([int(i) for _, i in pairs], np.int64))

  def __len__(self) -> int:
    return int(self.users.size)

  def __iter__(self) -> Iterator[tuple[int, int]]:
    return ((int(u), int(i)) for u, i in zip(self.users, self.items))

  def select(self, index) -> "Targets":
    """The targets at `index` (an int array or a boolean mask)."""
    return Targets(self.users[index], self.items[index])


@dataclasses.dataclass(frozen=True, eq=False)
class ExplainContext:
  """What an explainer may use: the trained model, its training data and shared precomputation.

  Attributes:
    model: the recommender.
    params: its trained parameters.
    train: the interactions it was trained on (row order as in training).
    original: the trained `TrainState` (params and optimizer state); methods that retrain
      from it (the warm protocol) need it.
    spec: how the original was trained (`RetrainProtocol`); methods that retrain or simulate
      counterfactual models (surrogates, `verified`) repeat it.
    simulation: simulated counterfactual outcomes for the surrogates
      (`cfjax.explain.surrogate.Simulated`), or None to let them simulate on demand.
    cache: precomputation shared by the methods run on this context (see `cached`).
  """

  model: Recommender
  params: Params
  train: Interactions
  original: TrainState | None = None
  spec: RetrainProtocol | None = None
  simulation: Any = None
  cache: dict = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if (self.train.num_users, self.train.num_items) != (self.model.num_users,
                                                        self.model.num_items):
      raise ValueError(f"the model is sized for {self.model.num_users} users x "
                       f"{self.model.num_items} items but the training data has "
                       f"{self.train.num_users} x {self.train.num_items}; build the model "
                       "from the same data")

  @classmethod
  def from_original(cls, model: Recommender, train: Interactions, original: TrainState,
                    spec: RetrainProtocol | None = None, **kwargs) -> "ExplainContext":
    """The context of a trained original (`params` = its parameters)."""
    return cls(model=model, params=original.params, train=train, original=original,
               spec=spec, **kwargs)

  def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
    """`compute()` once per `key` on this context, then the stored value."""
    if key not in self.cache:
      self.cache[key] = compute()
    return self.cache[key]

  def top_k(self, users, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's top-k unseen items and their scores (int32[B, K], float[B, K]), cached."""
    users = _ids(users, "users")
    return self.cached(("top_k", users.tobytes(), int(k)),
                       lambda: rank.top_k_lists(self.model, self.params, self.train, users,
                                                int(k)))

  def require_spec(self, needed_by: str) -> RetrainProtocol:
    """`spec`, or a one-line error saying that `needed_by` retrains and needs it."""
    if self.spec is None:
      raise ValueError(f"{needed_by} retrains the model: build the context with "
                       "spec=RetrainProtocol(steps=..., batch_size=..., seeds=(seed,)), as the "
                       "original was trained")
    return self.spec

  def require_original(self, needed_by: str) -> TrainState:
    """`original`, or a one-line error saying that `needed_by` needs the trained state."""
    if self.original is None:
      raise ValueError(f"{needed_by} continues from the trained model: build the context "
                       "with ExplainContext.from_original(model, train, original, spec)")
    return self.original

  def check_targets(self, targets: Targets, *, min_history: int = 1,
                    reason: str = "an explanation deletes history items") -> None:
    """One-line errors for targets outside the data, seen items or too short histories."""
    if not isinstance(targets, Targets):
      raise ValueError(f"targets must be cfjax.explain.Targets, got {type(targets).__name__}; "
                       "use Targets(users, items) or Targets.from_pairs")
    if len(targets) == 0:
      raise ValueError("no targets given; pass at least one (user, item) pair")
    users, items, train = targets.users, targets.items, self.train
    if users.min() < 0 or users.max() >= train.num_users:
      raise ValueError(f"target user ids must lie in [0, {train.num_users}); got "
                       f"{users.min()}..{users.max()}")
    if items.min() < 0 or items.max() >= train.num_items:
      raise ValueError(f"target item ids must lie in [0, {train.num_items}); got "
                       f"{items.min()}..{items.max()}")
    counts = train.user_counts[users]
    short = np.flatnonzero(counts < min_history)
    if short.size:
      raise ValueError(f"user {users[short[0]]} has {counts[short[0]]} training rows, fewer "
                       f"than {min_history} ({reason}); drop users with too little history")
    for user, item in targets:
      if item in set(train.history_items(user).tolist()):
        raise ValueError(f"target item {item} is in user {user}'s training history; explain "
                         "unseen (recommended) items")


def top1_targets(ctx: ExplainContext, users) -> Targets:
  """Each user's top-1 unseen item under `ctx.params`: the recommendations to explain.
  Warns (`cfjax.rank.TiedScoresWarning`) when some users' top-1 ties the runner-up."""
  users = _ids(users, "users")
  rank.warn_tied_top1(rank.scores_of(ctx.model, ctx.params, users),
                      rank.seen_rows(ctx.train, users))
  return Targets(users, ctx.top_k(users, 1)[0][:, 0])


@runtime_checkable
class Explainer(Protocol):
  """One explanation method: `explain(ctx, targets) -> list[Explanation]`, one per target.

  Attributes:
    name: the method name written into every record (`Explanation.method`).
    requires: the model hooks the method needs (names of `cfjax.models.base.HOOKS`, or
      "row_losses" for methods that retrain or differentiate the training loss).
    cost: (optional, a class attribute; "fast" if absent) "fast", "simulating" or "slow"
      (`COSTS`): `cfjax explain` runs only fast methods unless asked.
  """

  name: str
  requires: tuple[str, ...]

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    ...


def has_attributions(explainer: Explainer) -> bool:
  """Whether `explainer` provides the optional `attributions(ctx, targets)` method (the
  convention of the module docstring: per target, {history item: predicted margin decrease
  if that item alone is deleted})."""
  return callable(getattr(explainer, "attributions", None))


def missing_hooks(explainer: Explainer, model: Recommender) -> list[str]:
  """The hooks `explainer` needs that `model` does not provide."""
  return [hook for hook in explainer.requires if not model.has(hook)]


def check_supports(explainer: Explainer, model: Recommender) -> None:
  """A one-line `MissingHookError` if `model` lacks a hook `explainer` needs."""
  for hook in missing_hooks(explainer, model):
    model.require(hook, f"the {explainer.name} explainer")


def run_explainer(explainer: Explainer, ctx: ExplainContext,
                  targets: Targets) -> list[Explanation]:
  """Runs `explainer` after checking hooks and targets, and checks what it returns.

  Returns:
    One `Explanation` per target, in order, each naming its target's user and item.

  Raises:
    MissingHookError: if the model lacks a hook the method needs.
    ValueError: on bad targets, or (a bug in the method) records that do not match them.
  """
  check_supports(explainer, ctx.model)
  ctx.check_targets(targets)
  records = list(explainer.explain(ctx, targets))
  if len(records) != len(targets):
    raise RuntimeError(f"{explainer.name} returned {len(records)} records for {len(targets)} "
                       "targets; an explainer returns one record per target")
  for record, (user, item) in zip(records, targets):
    if (record.user, record.item) != (user, item):
      raise RuntimeError(f"{explainer.name} returned a record for ({record.user}, "
                         f"{record.item}) where the target was ({user}, {item})")
  return all_with_raw_ids(records, ctx.train)


EXPLAINERS: Registry[Callable[..., Explainer]] = Registry("explainer")
# How long a method takes, declared as a class attribute `cost` (`cost_of`): "fast" (seconds a
# target: runs by default), "simulating" (first simulates hundreds of retrains to fit a
# surrogate: minutes), "slow" (retrains many candidate sets per target, or differentiates
# through the whole training run). `cfjax explain` runs only the fast ones by default.
COSTS = ("fast", "simulating", "slow")


def register(name: str, factory: Callable[..., Explainer] | None = None):
  """Registers an explainer factory under `name`; usable as a class decorator.

  `factory(**options)` must return an `Explainer` whose `name` is `name` unless the options
  say otherwise. Registering a taken name is an error (pass another name).
  """
  return EXPLAINERS.register(name, factory, origin=sys._getframe(1).f_globals.get("__name__"))


def available_explainers() -> tuple[str, ...]:
  """Every registered explainer name, sorted."""
  return EXPLAINERS.names()


def cost_of(explainer: Explainer) -> str:
  """The explainer's declared cost class (`COSTS`; "fast" when it declares none)."""
  cost = getattr(explainer, "cost", "fast")
  if cost not in COSTS:
    raise ValueError(f"explainer {explainer.name!r} declares cost={cost!r}; use one of "
                     f"{', '.join(COSTS)}")
  return cost


def explainers_costing(*costs: str) -> tuple[str, ...]:
  """The registered explainers whose declared cost (with default options) is one of `costs`,
  e.g. `explainers_costing("slow")`."""
  unknown = [cost for cost in costs if cost not in COSTS]
  if unknown:
    raise ValueError(f"unknown cost {unknown[0]!r}; choose from {', '.join(COSTS)}")
  return tuple(name for name in available_explainers() if cost_of(get_explainer(name)) in costs)


# Options renamed so that one name means one thing (docs/architecture.md, "Names"): old -> new.
RENAMED_OPTIONS = {"k": "replacement_k", "chunk_size": "targets_per_batch",
                   "target_chunk": "targets_per_batch"}


def get_explainer(name: str, **options) -> Explainer:
  """The explainer `name` built with `options`, e.g. `get_explainer("accent", replacement_k=5)`.

  Raises:
    ValueError: on an unknown name or option (one line naming the choices, and the new name
      of a renamed option, `RENAMED_OPTIONS`).
  """
  factory = EXPLAINERS.get(name)
  try:
    return factory(**options)
  except TypeError as e:
    target = getattr(factory, "func", factory)  # a functools.partial's class
    fields = [f.name for f in dataclasses.fields(target)] if dataclasses.is_dataclass(
        target) else []
    renamed = [f"{old} is now {new}" for old, new in RENAMED_OPTIONS.items()
               if old in options and old not in fields and new in fields]
    raise ValueError(f"explainer {name!r}: {e}" + "".join(f" ({note})" for note in renamed)
                     + (f"; its options are {', '.join(fields)}" if fields else "")) from None


def explainers_for(model: Recommender, costs: Sequence[str] = COSTS) -> tuple[str, ...]:
  """The registered explainers whose hooks `model` provides and whose cost class is one of
  `costs` (with default options)."""
  return tuple(name for name in available_explainers()
               if not missing_hooks(explainer := get_explainer(name), model)
               and cost_of(explainer) in costs)


__all__ = ["COSTS", "EXPLAINERS", "Explainer", "ExplainContext", "MissingHookError", "Targets",
           "available_explainers", "check_supports", "cost_of", "explainers_costing",
           "explainers_for", "get_explainer", "has_attributions", "missing_hooks", "register",
           "run_explainer", "top1_targets"]
