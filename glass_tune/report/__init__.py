"""The HTML report of a finished search and the dashboards.

Offers ``build.write_report`` (report.html and its PNGs, from ``sections``, ``plots``, ``model_figures``
and ``page``) and ``dashboard.run_dashboards`` (TensorBoard and optuna-dashboard on loopback).
"""
