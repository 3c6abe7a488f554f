"""One GLASS training run without Ray: run inputs, the loop, evaluation, metrics, checkpoints, callbacks.

``glass-tune train`` and the Ray trainable both call :func:`fit` (or its epoch-at-a-time pieces), so a
config re-trained with ``train`` reproduces what the search saw.  Nothing here imports Ray or Optuna.
"""
