"""The hyperparameter search on Ray Tune + Optuna: driver, space, objective, samplers, the Optuna
searcher, progress lines, Ray jobs.  The only layer that imports Ray Tune and Optuna at module level."""
