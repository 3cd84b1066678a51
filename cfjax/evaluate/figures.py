"""Figures of verified explanations (matplotlib; skipped with a log line without it).

`validity_figure` draws validity@K against K for every method of a results directory, with
Wilson 95% intervals, the random placebo and the noise floor (nothing deleted) as shaded
bands: a method means something only where its interval clears both bands. The y axis always
spans 0-100 % so small differences are not blown up. `ResultsDir.write` draws it for every
runner that writes verified records (validity.png beside table.md).
"""

from __future__ import annotations

import logging
import pathlib
from typing import Sequence

import numpy as np

from cfjax.evaluate.significance import wilson_interval
from cfjax.records import VerifiedRecord

logger = logging.getLogger(__name__)
PLACEBO, NOISE = "random", "none"


def _pyplot():
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError:
    logger.warning("matplotlib is not installed: no figure (pip install matplotlib, a dependency of cfjax)")
    return None
  return plt


def validity_by_method(verified: Sequence[VerifiedRecord]) -> dict[str, dict[int, tuple]]:
  """method -> K -> (share valid, low, high): validity@K (Yao et al., eq. 2) with its Wilson
  95% interval, over the Ks every record of the method was verified at. Placebo records
  ("random", "<method> placebo"/"random(<method>)" ...) are pooled under "random"; records of
  several settings of one method (e.g. ACCENT's k) are pooled too.

  Returns:
    {method: {K: (share, low, high)}} in order of first appearance.
  """
  grouped: dict[str, list[VerifiedRecord]] = {}
  for record in verified:
    method = record.explanation.method
    if record.explanation.extra.get("placebo_of") is not None or "placebo" in method:
      method = PLACEBO
    grouped.setdefault(method, []).append(record)
  out = {}
  for method, records in grouped.items():
    ks = sorted(set.intersection(*(set(r.left_top_k) for r in records)))
    out[method] = {}
    for k in ks:
      hits = sum(bool(r.left_top_k[k]) for r in records)
      low, high = wilson_interval(hits, len(records))
      out[method][int(k)] = (hits / len(records), low, high)
  return out


def validity_figure(verified: Sequence[VerifiedRecord], path: str | pathlib.Path,
                    title: str) -> str | None:
  """Validity@K vs K per method with 95% intervals; the placebo and the noise floor as bands.

  Args:
    verified: the verified records of a run (any methods, including "random" and "none").
    path: the PNG to write.
    title: the figure title (dataset, model, preset, n).

  Returns:
    The path written, or None (no matplotlib, or no verified records).
  """
  verified = list(verified)
  plt = _pyplot()
  if plt is None or not verified:
    return None
  table = validity_by_method(verified)
  ks = sorted({k for by_k in table.values() for k in by_k})
  fig, ax = plt.subplots(figsize=(8.4, 4.2))
  x = np.arange(len(ks))
  for name, color in ((PLACEBO, "tab:orange"), (NOISE, "0.5")):
    if name in table:
      low = [100 * table[name].get(k, (np.nan,) * 3)[1] for k in ks]
      high = [100 * table[name].get(k, (np.nan,) * 3)[2] for k in ks]
      label = "placebo (random, same size)" if name == PLACEBO else "noise floor (nothing deleted)"
      if len(ks) == 1:
        ax.axhspan(low[0], high[0], color=color, alpha=0.25, label=label + ", 95% CI")
      else:
        ax.fill_between(x, low, high, color=color, alpha=0.25, label=label + ", 95% CI")
  methods = [m for m in table if m not in (PLACEBO, NOISE)]
  offsets = np.linspace(-0.25, 0.25, len(methods)) if len(methods) > 1 else [0.0]
  palette = [plt.get_cmap("tab10")(i) for i in (0, 2, 3, 4, 5, 6, 8, 9)]  # not the bands'
  palette += [plt.get_cmap("Dark2")(i) for i in range(8)]
  for index, (offset, method) in enumerate(zip(offsets, methods)):
    share = np.asarray([100 * table[method].get(k, (np.nan,) * 3)[0] for k in ks])
    low = np.asarray([100 * table[method].get(k, (np.nan,) * 3)[1] for k in ks])
    high = np.asarray([100 * table[method].get(k, (np.nan,) * 3)[2] for k in ks])
    ax.errorbar(x + offset, share, yerr=[share - low, high - share], marker="o", ms=4,
                capsize=2, lw=0.8, color=palette[index % len(palette)], label=method)
  ax.set_xticks(x, [str(k) for k in ks])
  ax.set_xlabel("K (the item must leave the user's top-K)")
  ax.set_ylabel("valid@K (%)")
  ax.set_ylim(0, 102)
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
  fig.tight_layout()
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return str(path)
