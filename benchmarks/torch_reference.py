"""The PyTorch reference: the same recommenders, retrained one model at a time.

This is how counterfactual retraining is usually written in PyTorch (e.g. ACCENT's own
verification loop): build the model, `torch.optim.Adam`, autograd, `nn.Embedding` lookups,
and a Python loop over the deletions. It mirrors `cfjax.models.mf` and `cfjax.models.ncf`
exactly in objective and optimiser:

* MF: f(u, i) = mu + b_u + b_i + <p_u, q_i>; per-row loss (r - f)^2 + l2 (|p_u|^2 + |q_i|^2 +
  b_u^2 + b_i^2); weighted mean sum(w l) / max(sum w, 1); Adam; full batch.
* NCF (NeuMF as ACCENT trains it): GMF and MLP towers (2*dim -> 16 -> 8, ReLU) fused by one
  linear layer; truncated-normal init with std 1/4; weighted mean squared error plus
  weight_decay * 1/2 ||w||^2 over every parameter; Adam; minibatches reshuffled each epoch
  with the last partial batch dropped.

A deletion is a row weight of 0, exactly as in the JAX engine (so the loss normalisation and
the batch composition match). The module imports no JAX, so it also measures torch alone.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

try:
  import torch
  from torch import nn
except ImportError:  # torch is optional: pip install -e .[bench]
  torch = None
  nn = None

SKIP_MESSAGE = "torch not installed: skipped (pip install -e .[bench])"


def available() -> bool:
  """Whether torch can be imported."""
  return torch is not None


def version() -> str | None:
  """The torch version, or None when torch is not installed."""
  return None if torch is None else torch.__version__


if torch is not None:

  class TorchBiasedMF(nn.Module):
    """mu + b_u + b_i + <p_u, q_i>, with the per-row squared norms for the regulariser."""

    def __init__(self, num_users: int, num_items: int, dim: int, init_std: float,
                 global_mean: float):
      super().__init__()
      self.user_factors = nn.Embedding(num_users, dim)
      self.item_factors = nn.Embedding(num_items, dim)
      self.user_bias = nn.Embedding(num_users, 1)
      self.item_bias = nn.Embedding(num_items, 1)
      self.mean = nn.Parameter(torch.tensor(float(global_mean)))
      nn.init.normal_(self.user_factors.weight, std=init_std)
      nn.init.normal_(self.item_factors.weight, std=init_std)
      nn.init.zeros_(self.user_bias.weight)
      nn.init.zeros_(self.item_bias.weight)

    def forward(self, users, items):
      p, q = self.user_factors(users), self.item_factors(items)
      bu, bi = self.user_bias(users)[:, 0], self.item_bias(items)[:, 0]
      prediction = self.mean + bu + bi + (p * q).sum(-1)
      norms = (p * p).sum(-1) + (q * q).sum(-1) + bu * bu + bi * bi
      return prediction, norms

    def all_scores(self, user: int):
      """Scores of every item for one user: [I]."""
      return (self.mean + self.user_bias.weight[user, 0] + self.item_bias.weight[:, 0]
              + self.item_factors.weight @ self.user_factors.weight[user])

  class TorchNeuMF(nn.Module):
    """NeuMF: GMF tower (elementwise product) and MLP tower, fused by one linear layer."""

    def __init__(self, num_users: int, num_items: int, dim: int,
                 mlp_layers: Sequence[int]):
      super().__init__()
      self.gmf_user = nn.Embedding(num_users, dim)
      self.gmf_item = nn.Embedding(num_items, dim)
      self.mlp_user = nn.Embedding(num_users, dim)
      self.mlp_item = nn.Embedding(num_items, dim)
      layers, width = [], 2 * dim
      for out in mlp_layers:
        layers += [nn.Linear(width, out), nn.ReLU()]
        width = out
      self.mlp = nn.Sequential(*layers)
      self.output = nn.Linear(dim + width, 1)
      std = 1.0 / np.sqrt(16.0)
      for name, param in self.named_parameters():
        if name.endswith("bias"):
          nn.init.zeros_(param)
        else:
          nn.init.trunc_normal_(param, std=std, a=-2 * std, b=2 * std)

    def _head(self, gmf_user, gmf_item, mlp_user, mlp_item):
      hidden = self.mlp(torch.cat([mlp_user, mlp_item], dim=-1))
      return self.output(torch.cat([gmf_user * gmf_item, hidden], dim=-1))[..., 0]

    def forward(self, users, items):
      return self._head(self.gmf_user(users), self.gmf_item(items), self.mlp_user(users),
                        self.mlp_item(items))

    def all_scores(self, user: int):
      """Scores of every item for one user: [I]."""
      items, device = self.gmf_item.weight.shape[0], self.gmf_item.weight.device
      users = torch.full((items,), user, dtype=torch.long, device=device)
      return self.forward(users, torch.arange(items, device=device))


class TorchRetrainer:
  """Retrains one torch model per deletion, in a Python loop, and reads each one out.

  Attributes:
    kind: "mf" or "ncf".
    steps: optimizer steps per retrain.
    batch_size: rows per step, or None for full batch.
  """

  def __init__(self, kind: str, hparams: dict, user: np.ndarray, item: np.ndarray,
               rating: np.ndarray, num_users: int, num_items: int, *, steps: int,
               batch_size: int | None, seed: int = 0, num_threads: int | None = None,
               device: str = "cpu"):
    """Holds the data as torch tensors (built once, outside any timing).

    Args:
      kind: "mf" or "ncf" (the `Recommender.name` of the JAX model).
      hparams: the JAX model's `hparams` (dims, l2 / weight decay, learning rate, init).
      user, item, rating: the training rows [N].
      num_users, num_items: U and I.
      steps: optimizer steps per retrain.
      batch_size: rows per step, or None for full batch.
      seed: fixes the init and the minibatch order (shared by every retrain).
      num_threads: intra-op threads (default: os.cpu_count()).
      device: the torch device the models train on ("cpu", or "cuda" on a GPU): the rows,
        the models and each step's batch indices live there; readouts come back as numpy.
    """
    if torch is None:
      raise ImportError(SKIP_MESSAGE)
    if kind not in ("mf", "ncf"):
      raise ValueError(f"no torch reference for model {kind!r}; expected 'mf' or 'ncf'")
    torch.set_num_threads(num_threads or os.cpu_count() or 1)
    self.kind, self.hparams = kind, dict(hparams)
    self.num_users, self.num_items = int(num_users), int(num_items)
    self.steps, self.batch_size, self.seed = int(steps), batch_size, int(seed)
    self.device = torch.device(device)
    self.user = torch.as_tensor(np.asarray(user, np.int64), device=self.device)
    self.item = torch.as_tensor(np.asarray(item, np.int64), device=self.device)
    self.rating = torch.as_tensor(np.asarray(rating, np.float32), device=self.device)
    self._device_batches = {}  # steps -> batch indices on a non-CPU device (built once)
    self.num_rows = len(user)
    if batch_size is not None and not 0 < batch_size <= self.num_rows:
      raise ValueError(f"batch_size={batch_size} must lie in [1, {self.num_rows}]")

  def _build(self):
    torch.manual_seed(self.seed)  # every retrain starts from the same init (paired)
    h = self.hparams
    if self.kind == "mf":
      model = TorchBiasedMF(self.num_users, self.num_items, h["dim"], h["init_std"],
                            h["global_mean"])
    else:
      model = TorchNeuMF(self.num_users, self.num_items, h["dim"], h["mlp_layers"])
    model = model.to(self.device)
    return model, torch.optim.Adam(model.parameters(), lr=h["learning_rate"])

  def _loss(self, model, rows, weights):
    if rows is None:
      users, items, ratings = self.user, self.item, self.rating
    else:
      users, items, ratings, weights = (self.user[rows], self.item[rows], self.rating[rows],
                                        weights[rows])
    total = weights.sum().clamp(min=1.0)
    if self.kind == "mf":
      prediction, norms = model(users, items)
      losses = (ratings - prediction).square() + self.hparams["l2"] * norms
      return (weights * losses).sum() / total
    losses = (ratings - model(users, items)).square()
    penalty = 0.5 * sum(param.square().sum() for param in model.parameters())
    return (weights * losses).sum() / total + self.hparams["weight_decay"] * penalty

  def _batches(self, steps: int):
    """Row indices of each step (None: full batch); the order is the same for every model."""
    if self.batch_size is None:
      return [None] * steps
    generator = torch.Generator().manual_seed(self.seed)
    per_epoch = self.num_rows // self.batch_size
    batches = []
    while len(batches) < steps:  # a fresh permutation per epoch, last partial batch dropped
      order = torch.randperm(self.num_rows, generator=generator)
      batches += list(order[:per_epoch * self.batch_size].view(per_epoch, self.batch_size))
    return batches[:steps]

  def _step_batches(self, steps: int):
    """`_batches(steps)`, on the retrainer's device (moved once per step count off the CPU,
    as a GPU loop would keep its index tensors on the device)."""
    if self.device.type == "cpu" or self.batch_size is None:
      return self._batches(steps)
    if steps not in self._device_batches:
      self._device_batches[steps] = [b.to(self.device) for b in self._batches(steps)]
    return self._device_batches[steps]

  def retrain_one(self, deleted_rows: np.ndarray, readout_user: int,
                  steps: int | None = None) -> np.ndarray:
    """Trains one model without `deleted_rows` (-1 is padding); returns user scores [I].

    Args:
      deleted_rows: int[R] row indices, padded with -1.
      readout_user: the user whose scores of every item are returned.
      steps: optimizer steps (default: the retrainer's `steps`; fewer for a warm-up).
    """
    model, optimizer = self._build()
    weights = torch.ones(self.num_rows, device=self.device)
    rows = np.asarray(deleted_rows)
    weights[torch.as_tensor(rows[rows >= 0], dtype=torch.long, device=self.device)] = 0.0
    for batch in self._step_batches(self.steps if steps is None else steps):
      optimizer.zero_grad(set_to_none=True)
      self._loss(model, batch, weights).backward()
      optimizer.step()
    with torch.no_grad():
      return model.all_scores(readout_user).cpu().numpy()

  def run(self, deleted_rows: np.ndarray, readout_user: int = 0) -> np.ndarray:
    """Retrains every deletion of int[M, R] (padded -1) in turn; returns scores [M, I]."""
    return np.stack([self.retrain_one(rows, readout_user) for rows in deleted_rows])
