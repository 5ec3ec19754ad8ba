"""Hyperparameter search (``jbt optimize``): seeded, resumable, scored out of sample.

- :mod:`jbt.optimize.space`: the search space from the strategies' ``hyperparameters()``.
- :mod:`jbt.optimize.objectives`: what a study scores.
- :mod:`jbt.optimize.worker`: one trial (training and testing backtests) on a worker.
- :mod:`jbt.optimize.executors`: where trials run (local processes, in-process).
- :mod:`jbt.optimize.coordinator`: the ask/tell loop, in batches, resumable.
- :mod:`jbt.optimize.storage`: studies in the database (Optuna's schema).
- :mod:`jbt.optimize.report` and :mod:`jbt.optimize.chart`: tables, exports, the chart page.

:func:`jbt.modes.optimize_mode.run` is what the command line calls.
"""
