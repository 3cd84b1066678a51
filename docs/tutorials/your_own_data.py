"""Tutorial: bring your own data (a pandas frame or a CSV with string ids), get explanations
that speak those ids.

    python docs/tutorials/your_own_data.py                        # a frame of ~2000 rows
    CFJAX_TUTORIAL_TINY=1 python docs/tutorials/your_own_data.py  # a smaller one, ~15 s

The same file on the command line: `cfjax explain --dataset=ratings.csv
--columns=user=user,item=item,rating=stars,title=title --user=alice`.
"""

import os

import numpy as np
import pandas as pd

import cfjax
from cfjax.data import Interactions
from cfjax.explain import ExplainContext, get_explainer, run_explainer, top1_targets
from cfjax.models import MODELS

TINY = os.environ.get("CFJAX_TUTORIAL_TINY") == "1"


def ratings_frame(num_users: int, num_items: int, per_user: int, seed: int = 0) -> pd.DataFrame:
  """A frame as it might come from your own logs: string ids, stars, titles, timestamps."""
  rng = np.random.default_rng(seed)
  rows = []
  for u in range(num_users):
    for i in rng.choice(num_items, size=per_user, replace=False):
      rows.append({"user": f"user-{u:03d}", "item": f"sku-{i:04d}",
                   "stars": float(rng.integers(1, 6)), "title": f"Product {i}",
                   "when": pd.Timestamp("2024-01-01") + pd.Timedelta(hours=int(rng.integers(1e4)))})
  return pd.DataFrame(rows)


def main() -> dict:
  frame = ratings_frame(*((30, 50, 12) if TINY else (150, 200, 15)))
  # (from a file: frame = pd.read_csv("ratings.csv"), or cfjax.data.read_table / cfjax.load)

  # Raw ids become dense ids 0..U-1 / 0..I-1; the raw ones stay in data.user_ids / item_ids.
  data = Interactions.from_pandas(frame, user="user", item="item", rating="stars",
                                  timestamp="when", title="title", name="my-shop")
  print(f"{data.num_users} users, {data.num_items} items, {len(frame)} rows")

  recipe = MODELS.get("mf").recipe
  model = cfjax.make_model("mf", data, **recipe.hparams)
  protocol = cfjax.RetrainProtocol(steps=20 if TINY else recipe.steps, batch_size=None,
                                   seeds=(0,))
  original = cfjax.train_original(model, cfjax.to_train_data(data), protocol)
  ctx = ExplainContext.from_original(model, data, original, protocol)

  # The user by their own id: find the dense id, explain, and read the record's `raw` side.
  user = int(np.flatnonzero(np.asarray(data.user_ids) == "user-007")[0])
  (record,) = run_explainer(get_explainer("knn", e=3), ctx, top1_targets(ctx, [user]))
  raw = record.raw  # filled by run_explainer: the same record in the data's ids and titles
  print(f"had {raw['user']} not rated [{', '.join(raw['deleted_titles'])}], "
        f"{raw['item_title']} ({raw['item']}) would not be their top recommendation")
  return raw


if __name__ == "__main__":
  main()
