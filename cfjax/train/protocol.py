"""The retraining protocol: ONE value that says how a model is trained and retrained.

The original's training (`train_original`), the engine (`retrain`), counterfactual scores
(`retrain_user_scores`) and verification (`cfjax.evaluate.verify`) all take a
`RetrainProtocol`, so a counterfactual is paired with its original by construction: the
verification protocol is the original's own value (`protocol.paired()`) or one derived from it
by a named method (`with_seeds`, `with_seed_offsets`, `continued`, `converging`).

Beside it sits the one rule that decides how many models go into one engine call
(`models_per_call`); the rule for how many of those are vmapped together is the engine's
(`cfjax.train.batched.default_vector_width`).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax

from cfjax.train.fit import Convergence, steps_per_epoch
from cfjax.util import check_int

KINDS = ("scratch", "warm", "rescore")


@dataclasses.dataclass(frozen=True)
class RetrainProtocol:
  """How a model is (re)trained: what a counterfactual must repeat to be paired (Yao et al.,
  eq. 1; ACCENT's warm verification).

  A seed s stands for (init_key, order_key) = split(PRNGKey(s)) (`seed_keys`). The FIRST seed
  is the paired one: the original is trained under it (`seed`), and a retrain under it shares
  the original's init and batch order, so the deletion is the only difference.

  Attributes:
    steps: optimizer steps (>= 0; for `warm`, steps after the original's; unused when `until`
      trains to convergence and by `rescore`).
    batch_size: rows per step, or None for full batch.
    seeds: the seeds, paired one first; scores are averaged over them unless `verify` is
      asked for one outcome per seed (`per_seed=True`).
    kind: "scratch" (a fresh init from each seed), "warm" (continue from the trained original's
      parameters and optimizer state; a seed fixes only the batch order) or "rescore" (an
      amortised model: the edited input row IS the counterfactual, nothing is retrained).
    until: the stopping rule: None trains `steps` steps; a `Convergence` trains each model
      until its full-batch gradient vanishes (the "converged" protocols, full batch only).
    chunk_size: models per engine call (None: `models_per_call`'s default for this batch
      size). The same value for the original (`train_original_exact`) and its retrains keeps
      them bitwise equal.
  """

  steps: int
  batch_size: int | None = None
  seeds: tuple[int, ...] = (0,)
  kind: str = "scratch"
  until: Convergence | None = None
  chunk_size: int | None = None

  def __post_init__(self):
    check_int(self.steps, "RetrainProtocol steps", minimum=0)
    if self.batch_size is not None:
      check_int(self.batch_size, "RetrainProtocol batch_size", minimum=1)
    if isinstance(self.seeds, (int, str, bytes)) or not isinstance(self.seeds, Sequence):
      raise ValueError(f"RetrainProtocol seeds={self.seeds!r} must be a sequence of ints >= 0, "
                       "the paired seed first; pass seeds=(0,) for one seed")
    seeds = tuple(_check_seed(seed) for seed in self.seeds)
    if not seeds:
      raise ValueError("RetrainProtocol seeds is empty; pass at least one seed (the paired one "
                       "first)")
    object.__setattr__(self, "seeds", seeds)  # a tuple of ints: hashable, JSON-able
    if self.kind not in KINDS:
      raise ValueError(f"RetrainProtocol kind={self.kind!r} must be one of {', '.join(KINDS)}")
    if self.until is not None and not isinstance(self.until, Convergence):
      raise ValueError(f"RetrainProtocol until={self.until!r} must be a cfjax.train.Convergence "
                       "or None")
    if self.until is not None and self.batch_size is not None:
      raise ValueError("training to convergence needs full batches (a minibatch gradient never "
                       "vanishes); pass batch_size=None with until=")
    if self.chunk_size is not None:
      check_int(self.chunk_size, "RetrainProtocol chunk_size", minimum=1)

  @property
  def seed(self) -> int:
    """The paired seed: the original's, first of `seeds`."""
    return self.seeds[0]

  @property
  def name(self) -> str:
    """The protocol as records name it: "scratch", "warm", "<kind>-converged" or "rescore"."""
    return self.kind if self.until is None else f"{self.kind}-converged"

  @property
  def models_per_call(self) -> int:
    """Models per engine call under this protocol (`models_per_call`)."""
    return models_per_call(self.chunk_size, self.batch_size)

  def check_rows(self, num_rows: int) -> "RetrainProtocol":
    """Itself, after a one-line error if `batch_size` exceeds the `num_rows` training rows."""
    steps_per_epoch(num_rows, self.batch_size)
    return self

  def paired(self) -> "RetrainProtocol":
    """The same protocol under the paired seed only: a retrain that deletes nothing
    reproduces the original (bitwise when the original was trained by
    `train_original_exact` under this protocol)."""
    return dataclasses.replace(self, seeds=(self.seed,))

  def with_seeds(self, seeds: Sequence[int]) -> "RetrainProtocol":
    """The same protocol under other seeds (the first is then the paired one)."""
    return dataclasses.replace(self, seeds=tuple(seeds))

  def with_seed_offsets(self, offsets: Sequence[int]) -> "RetrainProtocol":
    """The same protocol under seeds `seed + offset`: offset 0 is the paired seed, any other
    offset a different init and batch order (the noise of retraining itself)."""
    return self.with_seeds([self.seed + check_int(o, "seed offset") for o in offsets])

  def with_steps(self, steps: int) -> "RetrainProtocol":
    """The same protocol (same start, batch and seeds) for `steps` optimizer steps."""
    return dataclasses.replace(self, steps=steps)

  def continued(self, steps: int, *, seeds: Sequence[int] | None = None,
                batch_size: int | None | str = "same") -> "RetrainProtocol":
    """The warm protocol that continues a model trained under this one for `steps` more
    steps (ACCENT's verification), under `seeds` (default: this one's) and `batch_size`
    (default: this one's)."""
    return dataclasses.replace(
        self, kind="warm", steps=steps, seeds=self.seeds if seeds is None else tuple(seeds),
        batch_size=self.batch_size if batch_size == "same" else batch_size)

  def converging(self, until: Convergence) -> "RetrainProtocol":
    """The same start, trained until the gradient vanishes (`until`) instead of for steps."""
    return dataclasses.replace(self, until=until)

  def with_chunk_size(self, chunk_size: int | None) -> "RetrainProtocol":
    """The same protocol with `chunk_size` models per engine call (None: the default)."""
    return dataclasses.replace(self, chunk_size=chunk_size)


def _check_seed(seed) -> int:
  """A seed as an int, or a one-line error naming the fix (seeds are ints >= 0)."""
  try:
    return check_int(seed, "RetrainProtocol seed", minimum=0)
  except ValueError as error:
    raise ValueError(f"{str(error).split('; ')[0]}: a seed names a jax.random.PRNGKey; pass "
                     "seeds=(0,) or other ints >= 0") from None


def models_per_call(chunk_size: int | None, batch_size: int | None) -> int:
  """How many models go into one engine call: `chunk_size` when given, else 1 for full-batch
  training on CPU (the engine then runs a loop of single models anyway: `default_vector_width`,
  docs/engine.md) and 64 otherwise. The engine shrinks it to M models for M < chunk and rounds
  it up to the device count (`cfjax.train.distributed.plan_chunks`).

  Args:
    chunk_size: the requested models per engine call, or None for the default.
    batch_size: rows per step, or None for full batch.
  """
  if chunk_size is not None:
    return check_int(chunk_size, "chunk_size (models per engine call)", minimum=1)
  return 1 if batch_size is None and jax.default_backend() == "cpu" else 64
