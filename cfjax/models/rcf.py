"""RCF, Relational Collaborative Filtering (Xin et al., SIGIR 2019), as ACCENT trains it.

Score of item i for user u (Xin et al. sec. 3; ACCENT's RCF/src/rcf.py for the details):

  type attention    a_t(u) = softmax_t( w1 . gelu(W1 (e_u * r_t) + b1) ),  t = 0..3
                    (0: no shared attribute, 1: same genre, 2: same director, 3: same actor)
  value attention   for each entry (j, v) of type t in u's history H_u \\ {i} (item j shares
                    value v with i; type 0: j shares nothing with i, no value):
                      s = w_t . tanh(Wi_t e_i + Wj_t e_j + We_t g_{t,v})   (no We_t for t = 0)
                      b_{t,(j,v)} = exp(s) / (sum over t's entries of exp(s) + 1e-9)^alpha
  user embedding    m_ui = e_u + sum_t a_t(u) sum_{(j,v)} b_{t,(j,v)} e_j
  score             f(u, i) = w_out . gelu(W2 (m_ui * e_i) + b2)

with alpha = 0.5 (ACCENT's smoothed softmax; alpha = 1 is the plain softmax). Loss of a
training triple (u, i+, i-): -log sigmoid(f(u, i+) - f(u, i-)) (BPR). The relational
(knowledge-graph) loss over item-item relations (h, t, v, tail+, tail-) scores
  g(h, tail) = sum(e_h * (r_t + g_{t,v}) * e_tail)
and adds reg_t * mean(-log sigmoid(g(h, tail+) - g(h, tail-))); it is not user data, is never
deleted and lives in `penalty` (all relations every step: the expectation of ACCENT's
per-step relational minibatch). ACCENT's settings: hidden 64, attention 32, one hidden layer
of 64, GELU, no dropout, reg_t 0.01, Adagrad 0.05 (initial accumulator 1e-8), batch 512, 50
epochs, init fixed (its graph seed; here `init_seed`), so retraining seeds change only the
shuffling.

**The history is training data.** f(u, i) reads u's training items, so deleting a row must
also remove its item from u's history. The params carry `kept`: float32[N], 1 for a row in
the training set; the model's `attach_weights` hook sets it from the row weights when training
starts (`cfjax.train.fit`), it gets no gradient and the optimizer never moves it. A model
retrained without rows therefore also scores without them, and an explainer that keeps the
parameters fixed removes items with `attach_weights(params, weights)`.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.sparse as sp

from cfjax.models.domains import check_domains
from cfjax.models.base import Recommender

TYPES = ("genre", "director", "actor")
ITEM_CHUNK = 128  # items per vectorised block when scoring every item of a user
PAIR_CHUNK = 1024  # (user, item) pairs per vectorised block of `predict` (bounds memory)


@dataclasses.dataclass(frozen=True)
class RcfTables:
  """Fixed arrays RCF reads besides its parameters (host numpy, built once from the data).

  Attributes:
    hist_rows: int32[U, L] each user's training rows (N = padding).
    hist_items: int32[U, L] their items (I = padding, the zero item).
    entry_pos: per type, int32[U, E_t] the history position of each (item, value) entry.
    entry_value: per type, int32[U, E_t] its value id (V_t = padding).
    entry_valid: per type, bool[U, E_t].
    hot: per type, bool[I + 1, V_t + 1] item-value incidence (padding row/column empty).
    shares: bool[I + 1, I + 1] whether two items share any attribute value.
    relations: int32[Q, 5] (head, type, value, tail_pos, tail_neg).
    num_values: (V_genre, V_director, V_actor).
    num_rows: N, the training rows.
  """

  hist_rows: np.ndarray
  hist_items: np.ndarray
  entry_pos: tuple
  entry_value: tuple
  entry_valid: tuple
  hot: tuple
  shares: np.ndarray
  relations: np.ndarray
  num_values: tuple
  num_rows: int


def build_tables(user: np.ndarray, item: np.ndarray, num_users: int, num_items: int,
                 attributes: dict, num_values: dict, relations: np.ndarray | None) -> RcfTables:
  """The fixed arrays of `RcfTables` from the training rows and the item side data.

  Args:
    user: int[N] the training rows' users.
    item: int[N] the training rows' items (a triple's positive item).
    num_users: U.
    num_items: I.
    attributes: {type: I int arrays of value ids} (`RelationalInteractions.attributes`).
    num_values: {type: V_t}.
    relations: int[Q, 5] or None (no relational loss).
  """
  user, item = np.asarray(user), np.asarray(item)
  num_rows = len(user)
  order = np.argsort(user, kind="stable")
  counts = np.bincount(user, minlength=num_users)
  width = max(int(counts.max()) if num_rows else 1, 1)
  hist_rows = np.full((num_users, width), num_rows, np.int32)
  hist_items = np.full((num_users, width), num_items, np.int32)
  starts = np.concatenate([[0], np.cumsum(counts)])
  for u in range(num_users):
    rows = order[starts[u]:starts[u + 1]]
    hist_rows[u, :len(rows)] = rows
    hist_items[u, :len(rows)] = item[rows]
  hot, pos, val, valid = [], [], [], []
  for name in TYPES:
    v_count = int(num_values[name])
    values = attributes[name]
    lengths = np.asarray([len(values[i]) for i in range(num_items)], np.int64)
    matrix = sp.csr_matrix((np.ones(lengths.sum(), bool), np.concatenate(
        [np.asarray(values[i], np.int64) for i in range(num_items)] + [np.zeros(0, np.int64)]),
        np.concatenate([[0], np.cumsum(lengths)])), shape=(num_items, v_count))
    hot.append(np.pad(matrix.toarray(), ((0, 1), (0, 1))))
    per_user = []
    for u in range(num_users):
      entries = [(l, v) for l in range(counts[u]) for v in values[hist_items[u, l]]]
      per_user.append(entries)
    e_width = max(max(len(e) for e in per_user), 1)
    p = np.zeros((num_users, e_width), np.int32)
    x = np.full((num_users, e_width), v_count, np.int32)
    ok = np.zeros((num_users, e_width), bool)
    for u, entries in enumerate(per_user):
      if entries:
        p[u, :len(entries)], x[u, :len(entries)] = np.asarray(entries, np.int32).T
        ok[u, :len(entries)] = True
    pos.append(p)
    val.append(x)
    valid.append(ok)
  stacked = sp.hstack([sp.csr_matrix(h[:-1, :-1].astype(np.float32)) for h in hot]).tocsr()
  shares = np.pad((stacked @ stacked.T).toarray() > 0, ((0, 1), (0, 1)))
  rel = np.zeros((0, 5), np.int32) if relations is None else np.asarray(relations, np.int32)
  return RcfTables(hist_rows, hist_items, tuple(pos), tuple(val), tuple(valid), tuple(hot),
                   shares, rel, tuple(int(num_values[n]) for n in TYPES), num_rows)


def _dense(key, fan_in, fan_out, bias=True):
  """A Dense layer's params, glorot-uniform kernel and zero bias (tf.layers.dense)."""
  kernel = nn.initializers.glorot_uniform()(key, (fan_in, fan_out), jnp.float32)
  return {"kernel": kernel, **({"bias": jnp.zeros((fan_out,))} if bias else {})}


def init_params(key, tables: RcfTables, num_users, num_items, hidden, attention, layers):
  """RCF's parameters as ACCENT initialises them: embeddings N(0, 0.05), the prediction MLP
  N(0, glorot std), attention layers glorot-uniform; `kept` = 1 for every training row."""
  keys = iter(jax.random.split(key, 32))
  normal = lambda shape, std: std * jax.random.normal(next(keys), shape, jnp.float32)
  params = {
      "user_embeddings": normal((num_users, hidden), 0.05),
      "item_embeddings": normal((num_items, hidden), 0.05),
      "type_embeddings": normal((4, hidden), 0.05),
      **{f"{n}_embeddings": normal((v, hidden), 0.05) for n, v in zip(TYPES, tables.num_values)},
      "type_hidden": _dense(next(keys), hidden, attention),
      "type_out": _dense(next(keys), attention, 1, bias=False),
  }
  for t in range(4):
    params[f"att{t}"] = {"item": _dense(next(keys), hidden, attention, False),
                         "hist": _dense(next(keys), hidden, attention, False),
                         "out": _dense(next(keys), attention, 1, False),
                         **({"value": _dense(next(keys), hidden, attention, False)} if t else {})}
  widths = (hidden,) + tuple(layers)
  mlp = []
  for fan_in, fan_out in zip(widths[:-1], widths[1:]):
    std = np.sqrt(2.0 / (fan_in + fan_out))
    mlp.append({"kernel": normal((fan_in, fan_out), std), "bias": normal((fan_out,), std)})
  params["mlp"] = mlp
  params["prediction"] = normal((widths[-1], 1), np.sqrt(2.0 / (widths[-1] + 1)))
  params["kept"] = jnp.ones((tables.num_rows,), jnp.float32)
  return params


def _pad_zero(table):
  return jnp.concatenate([table, jnp.zeros((1, table.shape[1]), table.dtype)], axis=0)


def type_attention(params, e_user):
  """a_t(u): [..., 4] softmax over the relation types (first-level attention)."""
  product = e_user[..., None, :] * params["type_embeddings"]
  hidden = nn.gelu(product @ params["type_hidden"]["kernel"] + params["type_hidden"]["bias"],
                   approximate=False)
  return jax.nn.softmax(hidden @ params["type_out"]["kernel"][:, 0], axis=-1)


def projections(params) -> list[dict]:
  """Per type t, the attention projections of every item and value: {"item": Wi_t e [I+1, A],
  "hist": Wj_t e [I+1, A], "value": We_t g [V_t+1, A] (t > 0)}, the last rows for padding.
  Projecting the tables once per step, not each pair's gathered rows, saves a factor ~H."""
  items = _pad_zero(params["item_embeddings"])
  out = []
  for t in range(4):
    layer = params[f"att{t}"]
    proj = {"item": items @ layer["item"]["kernel"], "hist": items @ layer["hist"]["kernel"]}
    if t:
      proj["value"] = _pad_zero(params[f"{TYPES[t - 1]}_embeddings"]) @ layer["value"]["kernel"]
    out.append(proj)
  return out


def value_attention(params, tables: RcfTables, user, item, alpha, proj=None):
  """The second-level attention of ONE (user, item) pair.

  Args:
    params: RCF's parameters.
    tables: its fixed arrays.
    user: a scalar user id.
    item: a scalar item id.
    alpha: the softmax smoothing exponent.
    proj: `projections(params)` (computed here if None).

  Returns:
    (weights float32[4, L]: each type's attention of each history position, summed over the
      position's entries; the type attention float32[4]), so that
      m_ui = e_u + sum_t a_t sum_l weights[t, l] e_{j_l}.
  """
  proj = projections(params) if proj is None else proj
  kept = jnp.concatenate([jax.lax.stop_gradient(params["kept"]), jnp.zeros((1,))])
  rows = jnp.asarray(tables.hist_rows)[user]
  hist = jnp.asarray(tables.hist_items)[user]
  present = (kept[rows] > 0) & (hist != item)  # u's kept items other than i (Xin et al.)
  per_type = []
  for t in range(4):
    out = params[f"att{t}"]["out"]["kernel"][:, 0]
    item_part = proj[t]["item"][item]
    hist_part = proj[t]["hist"][hist]  # [L, A]
    if t == 0:
      active = present & ~jnp.asarray(tables.shares)[item, hist]
      logits = jnp.tanh(item_part + hist_part) @ out
      pos = jnp.arange(hist.shape[0])
    else:
      pos = jnp.asarray(tables.entry_pos[t - 1])[user]
      value = jnp.asarray(tables.entry_value[t - 1])[user]
      active = (jnp.asarray(tables.entry_valid[t - 1])[user] & present[pos]
                & jnp.asarray(tables.hot[t - 1])[item, value])
      logits = jnp.tanh(item_part + hist_part[pos] + proj[t]["value"][value]) @ out
    exp = jnp.where(active, jnp.exp(jnp.where(active, logits, 0.0)), 0.0)
    weights = exp / (jnp.sum(exp) + 1e-9) ** alpha
    per_type.append(jnp.zeros(hist.shape[0]).at[pos].add(weights))
  return jnp.stack(per_type), type_attention(params, params["user_embeddings"][user])


def pair_score(params, tables: RcfTables, user, item, alpha, proj=None):
  """f(u, i) for ONE pair (scalar); `proj` as in `value_attention`."""
  per_type, types = value_attention(params, tables, user, item, alpha, proj)
  items = _pad_zero(params["item_embeddings"])
  hist = jnp.asarray(tables.hist_items)[user]
  latent = (types @ per_type) @ items[hist]
  hidden = (params["user_embeddings"][user] + latent) * items[item]
  for layer in params["mlp"]:
    hidden = nn.gelu(hidden @ layer["kernel"] + layer["bias"], approximate=False)
  return (hidden @ params["prediction"])[0]


def relational_loss(params, tables: RcfTables):
  """Mean over the relations of -log sigmoid(g(h, tail+) - g(h, tail-)) (Xin et al. eq. 9)."""
  rel = jnp.asarray(tables.relations)
  if rel.shape[0] == 0:
    return jnp.zeros(())
  items = params["item_embeddings"]
  value = jnp.zeros((rel.shape[0], items.shape[1]))
  for t, name in enumerate(TYPES, start=1):
    table = params[f"{name}_embeddings"]
    value = jnp.where((rel[:, 1] == t)[:, None], table[jnp.minimum(rel[:, 2], table.shape[0] - 1)],
                      value)
  translation = params["type_embeddings"][rel[:, 1]] + value
  head = items[rel[:, 0]] * translation
  margin = jnp.sum(head * (items[rel[:, 3]] - items[rel[:, 4]]), axis=-1)
  return jnp.mean(jax.nn.softplus(-margin))


def _frozen_kept(params):
  return jax.tree_util.tree_map_with_path(
      lambda path, _: "frozen" if getattr(path[0], "key", None) == "kept" else "train", params)


def make_rcf(tables: RcfTables, num_users: int, num_items: int, *, hidden: int = 64,
             attention: int = 32, layers: tuple[int, ...] = (64,), alpha: float = 0.5,
             reg_t: float = 0.01, learning_rate: float = 0.05, init_seed: int | None = 2016
             ) -> Recommender:
  """Builds ACCENT's RCF.

  Args:
    tables: the fixed arrays (`build_tables`).
    num_users: U.
    num_items: I.
    hidden: embedding size (64 in ACCENT).
    attention: attention size (32).
    layers: widths of the prediction MLP's hidden layers ((64,)).
    alpha: the smoothing exponent of the value attention's softmax (0.5; 1 = plain softmax).
    reg_t: weight of the relational loss (0.01).
    learning_rate: Adagrad step size (0.05).
    init_seed: the fixed init (ACCENT's graph seed 2016): `init` ignores its key so seeds change
      only the shuffling; None: init from the key.

  Returns:
    A `Recommender` with row_columns ("negative",) and the hooks item_embeddings,
    user_embeddings, related_rows (the user's embedding row: ACCENT's 64 FIA parameters),
    attention_weights and attach_weights.
  """
  check_domains("rcf", hidden=hidden, attention=attention, layers=tuple(layers), reg_t=reg_t,
                learning_rate=learning_rate)
  alpha, reg_t = float(alpha), float(reg_t)

  def init(key):
    if init_seed is not None:
      key = jax.random.PRNGKey(init_seed)
    return init_params(key, tables, num_users, num_items, hidden, attention, layers)

  # Rematerialised: the backward pass recomputes a pair's [E, A] attention activations
  # instead of keeping them for every pair of the batch (memory, not arithmetic, binds here).
  one = jax.checkpoint(lambda params, proj, user, item: pair_score(params, tables, user, item,
                                                                  alpha, proj))

  def predict(params, users, items):
    users, items = jnp.asarray(users, jnp.int32), jnp.asarray(items, jnp.int32)
    proj = projections(params)
    pair = lambda ui: one(params, proj, ui[0], ui[1])
    if users.shape[0] <= PAIR_CHUNK:
      return jax.vmap(pair)((users, items))
    return jax.lax.map(pair, (users, items), batch_size=PAIR_CHUNK)

  def scores(params, users):
    all_items = jnp.arange(num_items, dtype=jnp.int32)
    proj = projections(params)

    def of_user(user):
      return jax.lax.map(lambda i: one(params, proj, user, i), all_items,
                         batch_size=ITEM_CHUNK)

    return jax.vmap(of_user)(jnp.asarray(users, jnp.int32))

  def row_losses(params, users, items, ratings, *, negative):
    del ratings
    margin = predict(params, users, items) - predict(params, users, negative)
    return jax.nn.softplus(-margin)

  def attention_weights(params, user, item, rows):
    """float32[R]: the attention a_t(u) b_{t,(j,v)} summed over the entries of each row's item
    (ACCENT's pure attention order), 0 at padding (-1) and rows not in u's history."""
    per_type, types = value_attention(params, tables, user, item, alpha)
    weights = types @ per_type  # [L]
    hist_rows = jnp.asarray(tables.hist_rows)[user]
    match = hist_rows[None, :] == jnp.asarray(rows)[:, None]
    return jnp.sum(jnp.where(match, weights[None, :], 0.0), axis=1)

  def attach_weights(params, weights):
    return {**params, "kept": (jnp.asarray(weights) > 0).astype(jnp.float32)}

  adagrad = optax.adagrad(learning_rate, initial_accumulator_value=1e-8, eps=0.0)
  optimizer = optax.multi_transform({"train": adagrad, "frozen": optax.set_to_zero()},
                                    _frozen_kept)
  return Recommender(
      name="rcf", num_users=num_users, num_items=num_items, init=init, predict=predict,
      scores=scores, row_losses=row_losses,
      penalty=lambda params: reg_t * relational_loss(params, tables), optimizer=optimizer,
      hparams=dict(hidden=hidden, attention=attention, layers=list(layers), alpha=alpha,
                   reg_t=reg_t, learning_rate=learning_rate, init_seed=init_seed,
                   optimizer="adagrad"),
      row_columns=("negative",),
      item_embeddings=lambda params: params["item_embeddings"],
      user_embeddings=lambda params: params["user_embeddings"],
      related_rows=lambda user, item: ((("user_embeddings",), user),),
      attention_weights=attention_weights, attach_weights=attach_weights)
