"""What a search will do, settled before Ray starts: a new search from the user's inputs, or an
interrupted one from its record (``search.yaml``, ``glass_tune.experiment.search_record``).

A new search is checked as far as the driver can see: the options, the experiment's place, the
space, the config, the data and every model the space can build, so a mistake is one line before
Ray starts. ``glass-tune tune`` parses its flags, asks for a :class:`SearchPlan` here and hands it
to :func:`glass_tune.search.driver.run_search`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from glass_tune.config.schema import GlassConfig, from_mapping, parse_override
from glass_tune.experiment.confirmation import LEGACY_EXPORT_RULE
from glass_tune.experiment.protocol import DEFAULT_METRIC, RULED_SCORE_KEY
from glass_tune.experiment.search_record import SEARCH_FILE, read_search_record, write_search_record
from glass_tune.search.options import RESOURCE_FLAGS, TRACKING_FLAGS, TuneOptions
from glass_tune.search.space import SearchSpace, load_search_space, space_from_record
from glass_tune.util.errors import ConfigError, UserError


@dataclass(frozen=True)
class SearchPlan:
    """A search ready to run: its base config, space, options and categories; ``resume`` for one that continues."""

    base: GlassConfig
    space: SearchSpace
    options: TuneOptions
    categories: list[str]
    resume: bool


def optimised_metric(*, space_metric: str, score_rule: str) -> str:
    """The reported key a search optimises: the space's metric, or the ruled score (``objective``) for ``smoothed``.

    ``smoothed`` replaces ``best_score`` (the default metric); a space that names another metric
    optimises that metric, and asking to smooth it as well is refused rather than ignored.
    """
    if score_rule == "best" or space_metric == RULED_SCORE_KEY:
        return space_metric
    if space_metric != DEFAULT_METRIC:
        raise ConfigError(f"--objective {score_rule}: the space optimises '{space_metric}'; smoothing applies to best_score only")
    return RULED_SCORE_KEY


def with_objective(space: SearchSpace, score_rule: str) -> SearchSpace:
    """The space optimising what ``--objective`` asks (the ruled score for smoothed)."""
    return dataclasses.replace(space, metric=optimised_metric(space_metric=space.metric, score_rule=score_rule))


def reject_searched_overrides(space: SearchSpace, overrides: Sequence[str]) -> None:
    """``--set step=5`` while the space searches ``step`` would be silently ignored: say so instead."""
    for text in overrides:
        key = parse_override(text)[0]
        if key in space.params:
            raise ConfigError(
                f"--set {key}: '{key}' is searched by space '{space.name}'; fix it in the space's 'fixed' block instead"
            )


def new_search(
    options: TuneOptions,
    *,
    space: str,
    config: Callable[[Mapping[str, Any]], GlassConfig],
    overrides: Sequence[str] = (),
    categories: Sequence[str] | None = None,
) -> SearchPlan:
    """A new search of ``space`` (a bundled name or a file), checked before Ray starts.

    ``config(fixed)`` is the base config the user asked for, with the space's fixed values in their
    place of precedence; ``overrides`` are its ``--set`` texts (a searched key is refused there);
    ``categories`` as ``glass_tune.training.data_check.select_categories`` takes them.
    """
    from glass_tune.training.data_check import preflight, select_categories
    from glass_tune.training.run_inputs import resolve_data_root

    options.validate()
    options.experiment.parent.check_creatable()  # before the (possibly slow) data checks; created by run_search
    searched = with_objective(load_search_space(space), options.objective)
    base = config(searched.fixed)
    reject_searched_overrides(searched, overrides)
    # No --data: the built-in data stays unnamed in the trial configs, each node makes its own copy.
    probe = base.replace(data_root=str(resolve_data_root(base)))
    chosen = select_categories(probe, categories)
    # every model and data problem the driver can see before Ray starts; trials on a cluster load their own weights
    preflight(probe, chosen, models=searched.shape_extremes(probe), weights_at_hand=options.address is None)
    if options.experiment.exists():
        raise UserError(f"{options.experiment}: experiment exists (pass --resume to continue it, or another --name)")
    return SearchPlan(base=base, space=searched, options=options, categories=chosen, resume=False)


def save_search_record(*, base: GlassConfig, space: SearchSpace, options: TuneOptions, categories: Sequence[str]) -> None:
    """Record what the search was asked to do (``search.yaml``): what :func:`resumed_search` reads back."""
    write_search_record(
        options.experiment,
        options=asdict(options),
        started_at=time.time(),
        categories=categories,
        space=space.to_dict(),
        base_config=base.to_dict(),
    )


def resumed_search(options: TuneOptions, *, explicit: Sequence[str] = ()) -> SearchPlan:
    """What an interrupted search was asked to do, from its record.

    Storage and address come from ``options`` (an experiment moved to another storage resumes where
    it now is); resources stay as recorded unless named in ``explicit`` (flags the user gave on the
    command line), so a GPU search resumes on GPUs. The name must be the recorded one: the studies
    and Ray's saved searchers carry it.
    """
    record = read_search_record(experiment=options.experiment)
    saved = record["options"]
    if saved.get("name", options.name) != options.name:
        raise UserError(
            f"{options.experiment}: the experiment was started as '{saved['name']}' and its studies carry that name; "
            f"rename the folder back to {saved['name']} and resume it with --name {saved['name']}"
        )
    known = {f.name for f in dataclasses.fields(TuneOptions)}
    merged = {k: v for k, v in saved.items() if k in known}
    merged.setdefault("confirm_export", LEGACY_EXPORT_RULE)  # recorded before the rule was a choice
    merged.update(address=options.address, storage=options.storage)
    if options.optuna_storage:
        merged["optuna_storage"] = options.optuna_storage
    for key in (*RESOURCE_FLAGS, *TRACKING_FLAGS):
        if key in explicit:
            merged[key] = getattr(options, key)
    resumed = TuneOptions(**merged)
    space = space_from_record(record["space"], source=f"{options.experiment / SEARCH_FILE}: space")
    base = from_mapping(record["base_config"], source=str(options.experiment / SEARCH_FILE))
    return SearchPlan(
        base=base,
        space=with_objective(space, resumed.objective),
        options=resumed,
        categories=list(record["categories"]),
        resume=True,
    )
