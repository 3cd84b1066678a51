"""Tutorial: add your own model (a Flax Linen module) and your own explainer.

    python docs/tutorials/add_model_and_explainer.py   # synthetic data either way, ~20 s

A model is any Linen module scoring (users, items) -> [B], wrapped by `from_linen`; hooks
(here `item_embeddings`) say which explainers can work on it. An explainer is a frozen
dataclass with `name`, `requires` (the hooks it reads), `cost` and `explain(ctx, targets)`;
`register` adds it to the registry. In the library, a new file `cfjax/explain/<name>.py`
holding the class and its `register` line is discovered with no list to edit, and the
conformance sweep (tests/explain/test_conformance.py) then runs it on every model.
"""

import dataclasses
from typing import ClassVar

import flax.linen as nn
import numpy as np

import cfjax
from cfjax.data import make_synthetic
from cfjax.explain import EXPLAINERS, ExplainContext, get_explainer, run_explainer, top1_targets
from cfjax.models import from_linen


class BiasedDot(nn.Module):
  """score(u, i) = <p_u, q_i> + b_i."""

  num_users: int
  num_items: int
  dim: int = 8

  @nn.compact
  def __call__(self, users, items):
    p = nn.Embed(self.num_users, self.dim, name="user")(users)
    q = nn.Embed(self.num_items, self.dim, name="item")(items)
    b = nn.Embed(self.num_items, 1, name="bias")(items)[:, 0]
    return (p * q).sum(-1) + b


@dataclasses.dataclass(frozen=True)
class MostRecent:
  """Deletes the user's e most recently listed history items (a naive baseline)."""

  e: int = 2
  name: str = "most_recent"
  requires: ClassVar[tuple[str, ...]] = ()
  cost: ClassVar[str] = "fast"

  def explain(self, ctx: ExplainContext, targets) -> list[cfjax.Explanation]:
    ctx.check_targets(targets, min_history=self.e, reason=f"{self.name} deletes {self.e} items")
    return [cfjax.Explanation(user, item, tuple(int(i) for i in
                                                ctx.train.history_items(user)[-self.e:]),
                              method=self.name)
            for user, item in targets]


def main() -> list:
  data = make_synthetic(num_users=40, num_items=60)
  model = from_linen(BiasedDot(data.num_users, data.num_items), name="biased_dot",
                     num_users=data.num_users, num_items=data.num_items,
                     item_embeddings=lambda params: params["item"]["embedding"])
  protocol = cfjax.RetrainProtocol(steps=300, batch_size=None, seeds=(0,))
  original = cfjax.train_original(model, cfjax.to_train_data(data), protocol)
  ctx = ExplainContext.from_original(model, data, original, protocol)
  targets = top1_targets(ctx, [3, 4])

  if "most_recent" not in EXPLAINERS:  # registering a taken name is an error
    cfjax.register("most_recent", MostRecent)
  mine = run_explainer(get_explainer("most_recent", e=2), ctx, targets)
  knn = run_explainer(get_explainer("knn", e=2), ctx, targets)  # reads item_embeddings
  verified = cfjax.verify(mine + knn, model=model, train=data, original=original,
                          protocol=protocol.with_seeds([0, 1]), ks=(1,), progress=False)
  for record in verified:
    e = record.explanation
    print(f"{e.method:>11} user {e.user}: delete {list(e.deleted_items)} -> rank "
          f"{record.original_rank} becomes {record.new_rank}")
  assert np.all([len(r.explanation.deleted_items) == 2 for r in verified])
  return verified


if __name__ == "__main__":
  main()
