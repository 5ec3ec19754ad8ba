"""Is the edge real? Walk-forward analysis and robustness checks of a backtest.

- :mod:`jbt.validation.windows`: durations (``180d``) and walk-forward windows.
- :mod:`jbt.validation.walkforward`: stitching the out-of-sample runs, efficiency, stability.
- :mod:`jbt.validation.store`: walk-forward runs in the project database.
- :mod:`jbt.validation.montecarlo`: trade-sequence Monte Carlo (shuffle, bootstrap).
- :mod:`jbt.validation.paths`: candle paths (block bootstrap, noise) and the worker jobs that
  run the strategy on them.
- :mod:`jbt.validation.overfitting`: probabilistic and deflated Sharpe ratios, the probability
  of backtest overfitting (CSCV).
- :mod:`jbt.validation.report` and :mod:`jbt.validation.chart`: tables, exports, pages.

:mod:`jbt.modes.walkforward_mode` and :mod:`jbt.modes.robustness_mode` are what the command
line calls.
"""
