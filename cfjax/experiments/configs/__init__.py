"""The runners' settings: one module per runner, each with `get_config(preset)` returning an
`ml_collections.ConfigDict` (presets smoke, default, paper; `--config.<field>=` overrides).

  ablations       Yao et al.'s ablations: Table 3's settings with variants
  accent_table1   ACCENT's Table 1 (NCF; RCF beside it)
  benchmark       the retrain-verified benchmark
  lcer_sweep      LCER's lambda and alpha sweep (Figures 8-9)
  lcer_table2     LCER's Table 2 (Mult-VAE)
  lcer_table3     LCER's Table 3, the length-matched comparison
  retrain_verify  knn vs. a random placebo vs. the noise floor
  table2          Yao et al.'s Table 2 (seconds per explanation)
  table3          Yao et al.'s Table 3 (validity of surrogate explanations)
  topn            top-N accuracy (per-dataset presets)
"""
