"""Published numbers that the experiment runners put beside their own, as plain data.

ACCENT: Tran, Ghazimatin and Saha Roy, "Counterfactual Explanations for Neural Recommenders"
(SIGIR 2021), Table 1 ("Performance comparison of ACCENT with baselines on our sample of the
MovieLens 100K benchmark"), section 4, rows "NCF [13]": pure FIA, FIA and ACCENT; columns
"CF percentage" and "CF set size" for the candidate replacement sets k = 5, 10, 20. Transcribed
from /work/shared/papers/tran-accent-counterfactual-explanations-neural-recommenders.md.
CF percentage is in percent of the 452 users; CF set size is the mean size over the
successful explanations. ACCENT's sizes are marked significant (*) over FIA at every k.
"""

from __future__ import annotations

# (method, k) -> (CF percentage, CF set size); method names as cfjax.explain spells them.
ACCENT_TABLE1_NCF: dict[tuple[str, int], tuple[float, float]] = {
    ("pure_fia", 5): (54.20, 9.08),
    ("pure_fia", 10): (56.19, 9.46),
    ("pure_fia", 20): (55.75, 9.50),
    ("fia", 5): (55.97, 7.98),
    ("fia", 10): (56.19, 7.80),
    ("fia", 20): (55.75, 7.84),
    ("accent", 5): (57.30, 4.73),
    ("accent", 10): (57.74, 4.69),
    ("accent", 20): (57.08, 4.62),
}

# Table 1's significance marks for NCF: (method, k, metric) where ACCENT beat FIA at 0.05.
ACCENT_TABLE1_NCF_SIGNIFICANT = {("accent", k, "cf_size") for k in (5, 10, 20)}

ACCENT_USERS = 452  # users explained in ACCENT's evaluation (sec. 3.2 and 4.1)


def accent_table1(model: str) -> dict[tuple[str, int], tuple[float, float]]:
  """ACCENT's Table 1 rows for `model` ("ncf"); RCF's rows are not transcribed yet."""
  if model != "ncf":
    raise ValueError(f"no transcribed ACCENT Table 1 rows for model {model!r}; use 'ncf'")
  return ACCENT_TABLE1_NCF
