"""Tracking: glass-tune's searches, trials and training runs in a team's experiment tracker, the winner in its registry.

The experiment folder stays the source of truth; a tracker is a copy that can always be brought up to
date from it. One small interface keeps the tracker behind it (:mod:`glass_tune.tracking.tracker`):
glass-tune describes each run as a plain :class:`~glass_tune.tracking.tracker.RunState` (params, tags,
epoch-stepped metric rows, end figures, status) and a backend's ``sync`` makes the tracker match,
idempotently. MLflow is the one backend (:mod:`glass_tune.tracking.mlflow_tracker`, on ``MlflowClient``
and ``log_batch``); another tracker (W&B) is another backend module and a line in
:mod:`glass_tune.tracking.backends`, not a rewrite.

- :mod:`glass_tune.tracking.records`: the plain records of an experiment or a training run as run states;
- :mod:`glass_tune.tracking.experiment`: ``glass-tune track`` (an experiment's records into the tracker)
  and the end of a category's search;
- :mod:`glass_tune.tracking.training`: ``glass-tune train --mlflow``;
- :mod:`glass_tune.export.registry`: the exported model as a registered ONNX model version, and back.

The search's live feed is a sink of the driver's trial event stream (``glass_tune.search.tracking_sink``).
``mlflow`` is an optional extra, imported only when a tracking URI is given.
"""
