"""Wen et al. (LCER), Tables 2 and 3 and the lambda / alpha sweep (Figures 8-9), on Mult-VAE, one
module each, on one preparation (`preparation.py`: settings, the trained Mult-VAE, explaining,
reuse).

  preparation.py  settings (`resolve`), the VAE split and Mult-VAE, the methods, reuse and caches
  table2.py       Table 2: FIA, KaffesCE, ACCENT and LCER on the top-K lists (`run_table2`)
  table3.py       Table 3: the baselines vs LCER at the closest length (`run_table3`)
  sweep.py        Figures 8-9: LCER over lambda and alpha (`run_sweep`, `plot_sweep`)
"""

from cfjax.papers.lcer.preparation import (DATASETS, LABELS, METHODS, Prepared, Setup, explain,
                                           metrics_of, prepare, resolve, setup)
from cfjax.papers.lcer.sweep import (METRIC_FIELDS, SWEEP_FIELDS, best_baselines, plot_sweep,
                                     run_sweep)
from cfjax.papers.lcer.table2 import TABLE2_HEADER, run_table2
from cfjax.papers.lcer.table3 import BASELINES, TABLE3_HEADER, closest, run_table3
