"""Every published number cfjax puts beside its own, as plain data, with where it comes from.

* ACCENT: Tran, Ghazimatin and Saha Roy, "Counterfactual Explanations for Neural Recommenders"
  (SIGIR 2021), Table 1, rows "NCF [13]": pure FIA, FIA and ACCENT, and rows "RCF [30]": pure
  attention, attention, pure FIA, FIA and ACCENT; "CF percentage" (of the
  452 users) and "CF set size" (mean over the successful explanations) for k = 5, 10, 20.
  ACCENT's sizes are marked significant (*) over FIA at every k.
* Yao et al.: Yao, Wang and Li, "Learning to Counterfactually Explain Recommendations",
  Table 3 (percentage of recommended items removed from the top-K, K = 1, 3, 5), Table 2
  (seconds per explanation, MovieLens, MF) and the ablations of sec. 6.3.
* LCER: Wen et al., "Learning-based counterfactual explanations for recommendation" (Sci China
  Inf Sci 2024), Tables 1-3 and the (lambda, alpha) of sec. 4.1.
Transcribed from ../shared/papers/. Method names are cfjax's registry names.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------- ACCENT
def _at_ks(rows: dict[str, tuple], ks: tuple[int, ...] = (5, 10, 20)) -> dict:
  """{(method, k): value} from {method: (its value at each k of `ks`)}."""
  return {(method, k): value for method, values in rows.items() for k, value in zip(ks, values)}


# (method, k) -> (CF percentage, CF set size); method names as cfjax.explain spells them.
ACCENT_TABLE1_NCF: dict[tuple[str, int], tuple[float, float]] = _at_ks({
    "pure_fia": ((54.20, 9.08), (56.19, 9.46), (55.75, 9.50)),
    "fia": ((55.97, 7.98), (56.19, 7.80), (55.75, 7.84)),
    "accent": ((57.30, 4.73), (57.74, 4.69), (57.08, 4.62)),
})

# Table 1's significance marks for NCF: (method, k, metric) where ACCENT beat FIA at 0.05.
ACCENT_TABLE1_NCF_SIGNIFICANT = {("accent", k, "cf_size") for k in (5, 10, 20)}

# Table 1, rows "RCF [30]" (ACCENT's RCF triples of accent-ml100k).
ACCENT_TABLE1_RCF: dict[tuple[str, int], tuple[float, float]] = _at_ks({
    "pure_attention": ((73.01, 9.36), (73.45, 7.94), (74.34, 7.75)),
    "attention": ((76.99, 3.55), (76.99, 3.53), (76.99, 3.51)),
    "pure_fia": ((80.75, 4.85), (81.19, 4.62), (81.86, 4.72)),
    "fia": ((81.64, 4.15), (81.86, 4.10), (81.86, 4.10)),
    "accent": ((81.86, 2.83), (82.08, 2.75), (82.08, 2.74)),
})
# Table 1's marks for RCF: ACCENT's sizes beat FIA (*) and attention (dagger) at every k, and
# its CF percentages beat attention (dagger).
ACCENT_TABLE1_RCF_SIGNIFICANT = ({("accent", k, "cf_size") for k in (5, 10, 20)}
                                 | {("accent", k, "cf_percentage") for k in (5, 10, 20)})
# RCF's retraining seeds in ACCENT (RCF/src/retrain_counterfactual.py: 2512, then four drawn
# from numpy seed 1802); the init is fixed (graph seed 2016), the seeds shuffle.
ACCENT_RCF_SEEDS = (2512, 3512, 4091, 4214, 9846)
ACCENT_RCF_EPOCHS = 50  # RCF's training and retraining length (RCF/src/helper.py)

ACCENT_USERS = 452  # users explained in ACCENT's evaluation (sec. 3.2 and 4.1)
# ACCENT's training and retraining length: num_steps_train and num_steps_retrain of the
# reference code (NCF/src/helper.py), 120,000 steps each.
ACCENT_STEPS = 120_000


# ------------------------------------------------------------------------------------ Yao
# Netflix is not available offline; its columns are transcribed for completeness.
# (model, dataset) -> row label -> (K=1, K=3, K=5) in percent.
_ROWS = ("KNN", "Influence Function", "Linear Surrogate (reg)", "MLP Surrogate (reg)",
         "Linear Surrogate (clf)", "MLP Surrogate (clf)")
_TABLE3 = {
    "mf": [[17, 10, 3, 30, 18, 12, 18.5, 8, 5.5],
           [35.5, 15.5, 9.5, 37, 18, 10.5, 37.5, 19.5, 11.5],
           [82, 68, 54.5, 89, 73.5, 62, 81, 57, 44],
           [76.5, 52.5, 42.5, 80.5, 50.5, 40.5, 77, 54, 44],
           [79, 61, 51, 85, 68.5, 57.5, 71, 50.5, 40.5],
           [72.5, 48, 41, 76, 61, 51, 68, 48.5, 38.5]],
    "ncf": [[42, 27, 21.5, 38.5, 26, 24, 40, 28, 21],
            [44, 29.5, 23.5, 40.5, 28.5, 24, 41, 29, 23],
            [86, 60, 44, 68.5, 41.5, 32, 74.5, 54, 40.5],
            [83, 57.5, 42, 68.5, 39.5, 30, 71, 52, 38.5],
            [81, 53.5, 38.5, 61.5, 36.5, 32, 72, 49.5, 38.5],
            [75.5, 49.5, 36.5, 63.5, 35, 27.5, 68.5, 48.5, 36]],
}
# Table 3's columns, by cfjax's dataset names.
YAO_DATASETS = ("movielens-100k", "netflix-small", "amazon-digital-music")
YAO_TABLE3 = {(model, dataset): {row: tuple(values[3 * d:3 * d + 3]) for row, values in
                                 zip(_ROWS, _TABLE3[model])}
              for model in _TABLE3 for d, dataset in enumerate(YAO_DATASETS)}

# cfjax method name -> Table 3 row label (methods without a label have no published value).
YAO_LABELS = {"knn": "KNN", "influence_function": "Influence Function",
              "lasso_reg": "Linear Surrogate (reg)", "mlp_reg": "MLP Surrogate (reg)",
              "logreg_clf": "Linear Surrogate (clf)", "mlp_clf": "MLP Surrogate (clf)"}

# Sec. 6.3 (MovieLens, MF, K = 1): each ablation's drop in points from the linear regression
# surrogate's 82 % (Table 3); the classification target's value is Table 3's own row.
YAO_ABLATION_K1 = {("targets", "lasso_reg"): 82.0, ("targets", "logreg_clf"): 79.0,
                   ("targets", "lasso_rank"): 82.0 - 1.5,
                   ("targets", "lasso_cross"): 82.0 - 7.4,
                   ("targets", "deepsets_reg"): 82.0 - 11.5,
                   ("fraction", "lasso_reg"): 82.0 - 4.5}

# The paper's scale (sec. 6.1): deletions simulated per training user, test users explained,
# candidate subsets searched per explanation.
YAO_SCALE = {"subsets_per_user": 1000, "test_users": 200, "candidates": 100_000}

# Surrogate training users per dataset in the paper (sec. 6.1).
YAO_TRAIN_USERS = {"movielens-100k": 200, "netflix-small": 100, "amazon-digital-music": 80}

# Yao et al., Table 2 (MovieLens, MF): seconds per explanation, one at a time.
YAO_TABLE2_SECONDS = {"knn": 1.25e-3, "influence_function": 6.47, "lasso_reg": 1.75,
                      "mlp_reg": 2.60}


def yao_table3(model: str, dataset: str, method: str, k: int) -> float | None:
  """Table 3's percentage for (model, dataset, method, K), or None if it has none."""
  label = YAO_LABELS.get(method)
  if label is None or (model, dataset) not in YAO_TABLE3 or k not in (1, 3, 5):
    return None
  return float(YAO_TABLE3[(model, dataset)][label][(1, 3, 5).index(k)])


# ----------------------------------------------------------------------------------- LCER
# Wen et al., sec. 4.1 "Parameter settings": (lambda, alpha) per dataset.
LCER_LAMBDA_ALPHA = {"movielens-100k": (0.01, 0.1), "ml-1m": (0.02, 0.04),
                     "alishop": (0.03, 0.08), "epinions": (0.01, 0.1)}

# Wen et al., Table 2: (dataset, method, K) -> (Val %, Len, PS %, PN %, F_NS %); FIA has no Val.
LCER_TABLE2 = {
    ("movielens-100k", "fia", 5): (None, 1.000, 35.54, 27.47, 30.61),
    ("movielens-100k", "kaffes", 5): (68.0, 1.691, 47.06, 36.76, 41.28),
    ("movielens-100k", "accent", 5): (87.8, 3.431, 39.64, 60.82, 47.99),
    ("movielens-100k", "lcer", 5): (100.0, 4.461, 55.56, 61.41, 58.34),
    ("movielens-100k", "fia", 10): (None, 1.000, 42.52, 23.73, 30.47),
    ("movielens-100k", "kaffes", 10): (65.8, 1.948, 55.92, 39.36, 46.20),
    ("movielens-100k", "accent", 10): (86.0, 3.857, 47.67, 48.84, 48.25),
    ("movielens-100k", "lcer", 10): (88.5, 3.361, 66.63, 51.89, 58.34),
    ("ml-1m", "fia", 5): (None, 1.000, 25.80, 34.40, 29.49),
    ("ml-1m", "kaffes", 5): (56.8, 1.482, 41.20, 57.04, 47.84),
    ("ml-1m", "accent", 5): (97.0, 3.303, 34.43, 58.35, 43.31),
    ("ml-1m", "lcer", 5): (97.2, 3.685, 59.67, 64.20, 61.85),
    ("ml-1m", "fia", 10): (None, 1.000, 34.10, 28.60, 31.11),
    ("ml-1m", "kaffes", 10): (56.3, 1.622, 49.02, 58.97, 53.54),
    ("ml-1m", "accent", 10): (96.2, 3.418, 45.43, 44.59, 45.01),
    ("ml-1m", "lcer", 10): (96.8, 4.092, 70.04, 63.84, 66.80),
}

# Wen et al., Table 1 (after thresholding and the >= 5 filter).
LCER_TABLE1 = {"movielens-100k": (938, 1447, 55361), "ml-1m": (6034, 3502, 575235)}

# Wen et al., Table 3 (Epinions, top-5): (Val %, Len, PS %, PN %, F_NS %).
LCER_TABLE3 = {
    "kaffes": {"kaffes": (58.2, 1.306, 40.21, 58.08, 47.52),
               "lcer": (79.2, 1.315, 48.54, 63.59, 55.06)},
    "accent": {"accent": (58.4, 1.527, 38.36, 71.92, 50.03),
               "lcer": (100.0, 1.535, 49.68, 68.39, 57.55)},
}
