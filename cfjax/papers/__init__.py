"""One pipeline per paper table: `run(config, workdir) -> table` (configs in
cfjax/experiments/configs).

  accent.py           ACCENT's Table 1 (Tran et al., 2021), its NCF and RCF halves
  yao/                Yao et al.'s Tables 2 and 3 and ablations
  lcer/               LCER's Tables 2 and 3 and its lambda / alpha sweep (Wen et al.)
  published.py        every published number the tables put beside ours

Each runs on the `cfjax.pipeline.Run` skeleton (lock, config record, resume, work dir, one
write); the non-paper workflows (benchmark, top-N, retrain-verify, `cfjax explain`) are in
`cfjax.workflows`.
"""
