"""The HTML report of a finished search (data, plots, page) and the Optuna dashboard launcher."""
