"""The hyperparameter search on Ray Tune + Optuna: the only layer that imports them at module level.

Offers, by module (this face imports nothing: ``--help`` reads ``options`` without loading Ray):

- ``plan.new_search`` / ``plan.resumed_search``: a search settled and checked before Ray starts
- ``driver.run_search``: every category searched, confirmed and exported; ``driver.search_end``
- ``options.TuneOptions``: how a search runs, the one home of its defaults
- ``space.load_search_space``: space files -> Optuna suggestions; ``samplers`` and ``schedulers``: name registries
- ``cluster``, ``tuner``, ``confirmation_runner``, ``optuna_searcher``, ``trial_events``, ``progress``: the pieces
  of a run; ``jobs``: searches as Ray jobs; ``ray_internals``/``optuna_internals``: every private attribute touched
"""
