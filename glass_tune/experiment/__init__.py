"""What a search leaves on disk and how it is read back, without Ray (only ``tune --resume`` unpickles Ray's state).

Offers, by module (import them from there; this face imports nothing, so a reader of one file
never loads the rest):

- ``protocol``: the keys a trial receives and reports, :class:`Objective` (metric and mode), the trial base
- ``score_rules``: ``best``/``smoothed``, the score a trial is ranked by (``--objective``)
- ``view.open_experiment`` / ``view.open_category``: the one opener every reader uses
- ``results``: trials (``load_trials``), the best trial, ``summary.csv``/``.md``; ``trial_index``, ``legacy_trials``
- ``search_record``: ``search.yaml``; ``best_config``: the exported trial and ``best_config.yaml``
- ``confirmation`` and ``intervals``: the confirmation's record and verdict; ``status``: ``glass-tune status``
- ``storage.resolve``: a local path or a ``pyarrow`` URI; ``study_store``: where the Optuna studies live
"""
