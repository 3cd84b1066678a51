"""One pipeline per paper table: `run(config, workdir) -> table`, configs in experiments/configs.

  retrain_verify.py   the retrain-and-verify study (knn vs. placebo vs. noise floor)
  accent.py           ACCENT's Table 1 (Tran et al., 2021)
  yao.py              Yao et al.'s Tables 2 and 3 and ablations
  lcer.py             LCER's Tables 2 and 3 and its lambda / alpha sweep (Wen et al.)
  published.py        every published number the tables put beside ours
"""
