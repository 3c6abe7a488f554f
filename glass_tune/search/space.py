"""Search spaces: YAML files (bundled in ``search_spaces/`` or anywhere) turned into Optuna suggestions.

A space is validated completely when it is loaded, against the same rules as a training config
(``glass_tune.config.schema.from_mapping``), so a typo or an impossible range is one line on the console
before Ray starts, not a failed trial an hour later. The file format: ``docs/search-spaces.md``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from glass_tune.config.schema import FIELD_NAMES, GlassConfig, fields_in, from_mapping
from glass_tune.config.yaml_values import bundled_names as bundled_yaml_names
from glass_tune.config.yaml_values import decode_yaml_bytes, find_yaml, is_int, is_number
from glass_tune.experiment.protocol import DEFAULT_METRIC
from glass_tune.util import notices
from glass_tune.util.errors import ConfigError

if TYPE_CHECKING:
    pass

__all__ = ["Param", "SearchSpace", "SpaceSampler", "bundled_names", "load_search_space"]

PARAM_TYPES = ("int", "float", "categorical")
MODES = ("max", "min")
_BUNDLE_PACKAGE = "search_spaces"
# name and source are optional: to_dict() writes them so that a recorded space says where it came from.
_TOP_KEYS = ("name", "source", "metric", "mode", "params", "fixed", "points_to_evaluate")
_NUMERIC_KEYS = ("low", "high", "log", "step")
_RANGE_EXTRAS = ("units", "override")
UNITS = ("norm",)  # norm: low/high are sqrt(target_embed_dim) * value, the norm of a noise vector
_ABSENT = object()
SHAPE_KEYS = fields_in(group="shape")  # the keys that size the feature maps


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps ``True``, ``1`` and ``1.0`` apart: categorical choices are typed."""
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class Param:
    """One searched config field: a numeric range or a list of choices, optionally conditional."""

    name: str
    type: str
    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    step: int | float | None = None
    choices: tuple[Any, ...] = ()
    condition: tuple[str, Any] | None = None  # (controlling param or run-config key, value it must take)
    units: str | None = None  # "norm": low/high are sqrt(target_embed_dim) * value (see resolve)
    overrides: tuple[tuple[tuple[str, Any], float, float], ...] = ()  # ((key, value), low, high)

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.type == "int":
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this parameter can take (used to check starting points)."""
        if self.type == "categorical":
            return any(_same(value, c) for c in self.choices)
        if not (is_int(value) if self.type == "int" else is_number(value)):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        steps = (value - self.low) / self.step
        return abs(steps - round(steps)) < 1e-9

    def describe(self) -> str:
        """Human-readable range for error messages."""
        if self.type == "categorical":
            return "one of " + ", ".join(map(repr, self.choices))
        extra = " (log)" if self.log else f" step {self.step}" if self.step is not None else ""
        return f"{self.type} in [{self.low}, {self.high}]{extra}"

    def resolve(self, config: GlassConfig) -> Param:
        """The plain range this parameter has for ``config``: the first matching override, in the
        config's units (a ``norm`` range divided by sqrt(target_embed_dim))."""
        if self.type == "categorical":
            return self
        low, high = self.low, self.high
        for (key, value), o_low, o_high in self.overrides:
            if _same(getattr(config, key), value):
                low, high = o_low, o_high
                break
        if self.units == "norm":
            scale = math.sqrt(config.target_embed_dim)
            low, high = low / scale, high / scale
        return dataclasses.replace(self, low=low, high=high, units=None, overrides=())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.type == "categorical":
            out["choices"] = list(self.choices)
        else:
            out.update(low=self.low, high=self.high)
            if self.log:
                out["log"] = True
            if self.step is not None:
                out["step"] = self.step
            if self.units is not None:
                out["units"] = self.units
            if self.overrides:
                out["override"] = [{"when": {k: v}, "low": lo, "high": hi} for (k, v), lo, hi in self.overrides]
        if self.condition is not None:
            out["condition"] = {self.condition[0]: self.condition[1]}
        return out


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space; ``params`` (name -> Param) keep file order, the suggestion order."""

    name: str
    source: str
    metric: str
    mode: str
    params: dict[str, Param]
    fixed: dict[str, Any]
    points_to_evaluate: tuple[dict[str, Any], ...]

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """Define-by-run suggestion for ``OptunaSearch(space=...)``.

        Suggests every parameter whose condition holds. Ray records the suggested values itself
        (it wraps ``trial``) and merges in the returned dict of constants: the fixed values, so a
        trial's config is complete on its own.
        """
        values: dict[str, Any] = {}
        for param in self.params.values():
            if param.condition is not None and param.condition[0] not in self.params:
                raise ConfigError(
                    f"{self.source}: resolve the space against the run config before sampling ({param.name} depends on {param.condition[0]})"
                )
            if param.units is not None or param.overrides:
                raise ConfigError(
                    f"{self.source}: resolve the space against the run config before sampling ({param.name} has a config-dependent range)"
                )
            if param.condition is None or _same(values.get(param.condition[0], _ABSENT), param.condition[1]):
                values[param.name] = param.suggest(trial)
        return dict(self.fixed)

    def resolve(self, config: GlassConfig) -> SearchSpace:
        """The space one category's search samples, given its resolved run config.

        Parameters conditional on a run-config key (e.g. ``radius_quantile`` under ``svd: 1``) are
        kept unconditionally when the config matches and dropped when it does not, so a study never
        samples a dimension that cannot change the result; config-dependent ranges (``units``,
        ``override``) become plain ranges. Starting points lose dropped parameters and are clipped
        into the resolved ranges (below a shell's lower edge a noise behaves like the edge).
        """
        dependencies = {p.condition[0] for p in self.params.values() if p.condition is not None}
        dependencies |= {key for p in self.params.values() for (key, _), _, _ in p.overrides}
        unresolved = sorted(k for k in dependencies - set(self.params) if getattr(config, k) == "auto")
        if unresolved:
            raise ConfigError(
                f"{self.source}: the space depends on {unresolved[0]}, which is still 'auto' (resolve the run config first)"
            )
        params: dict[str, Param] = {}
        for name, param in self.params.items():
            if param.condition is not None and param.condition[0] not in self.params:
                key, value = param.condition
                if not _same(getattr(config, key), value):
                    continue
                param = dataclasses.replace(param, condition=None)
            params[name] = param.resolve(config)
        points = tuple(self._start_point(point, params, config) for point in self.points_to_evaluate)
        return dataclasses.replace(self, params=params, points_to_evaluate=points)

    def _start_point(self, point: Mapping[str, Any], params: Mapping[str, Param], config: GlassConfig) -> dict[str, Any]:
        """A starting point in the resolved ranges; a clipped value is said, in the space's units too."""
        out: dict[str, Any] = {}
        for key, value in point.items():
            if key not in params:
                continue
            out[key] = _clip(params[key], value)
            if out[key] != value:
                dim = config.target_embed_dim
                norm = f" (norm {out[key] * math.sqrt(dim):.3g} = std x sqrt(target_embed_dim {dim}))"
                notices.inform(
                    f"[{config.category}] starting point {key}={value:g} is outside the live range "
                    f"[{params[key].low:.4g}, {params[key].high:.4g}]: it runs as {key}={out[key]:.4g}"
                    + (norm if self.params[key].units == "norm" else "")
                )
        return out

    def shape_extremes(self, config: GlassConfig) -> list[GlassConfig]:
        """``config`` at every combination of the extremes (a range's ends, every choice) of the searched
        keys that size the feature maps, or ``[config]`` when none is searched: the models a search builds
        before Ray starts. Conditions are ignored, so this covers at least what the search samples."""
        sized = [p for p in self.params.values() if p.name in SHAPE_KEYS]
        ends = [p.choices if p.type == "categorical" else (p.low, p.high) for p in sized]
        return [config.replace(**{p.name: v for p, v in zip(sized, combo)}) for combo in itertools.product(*ends)]

    def to_dict(self) -> dict[str, Any]:
        """The space in the YAML schema (loadable again), for the experiment folder."""
        return {
            "name": self.name,
            "source": self.source,
            "metric": self.metric,
            "mode": self.mode,
            "params": {name: p.to_dict() for name, p in self.params.items()},
            "fixed": dict(self.fixed),
            "points_to_evaluate": [dict(p) for p in self.points_to_evaluate],
        }


@dataclass(frozen=True)
class SpaceSampler:
    """The ``space`` callable for Ray's OptunaSearch.

    A module-level class instead of a closure: Ray pickles the searcher into the experiment folder
    and ``Tuner.restore`` re-imports it, which works for this class but not for a function defined
    in a script or a test.
    """

    space: SearchSpace

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        return self.space.sample(trial)


def _clip(param: Param, value: Any) -> Any:
    if param.type == "categorical":
        return value
    return type(value)(min(max(value, param.low), param.high))


# --- loading and validation --------------------------------------------------------------------


def bundled_names() -> list[str]:
    """Names of the spaces shipped in the ``search_spaces`` package."""
    return bundled_yaml_names(_BUNDLE_PACKAGE)


def load_search_space(name_or_path: str | Path) -> SearchSpace:
    """Load and validate a bundled space by name (``default``, ``wide``, ...) or a YAML file by path
    (the rule of ``glass_tune.config.yaml_values.find_yaml``, which ``--config`` follows too)."""
    found = find_yaml(name_or_path, package=_BUNDLE_PACKAGE, kind="search space", bundled="space")
    data = decode_yaml_bytes(found.data, source=found.source)
    if not isinstance(data, dict):
        raise ConfigError(f"{found.source}: expected a mapping with 'params' at the top level")
    return _parse(data, name=found.name, source=found.source)


def space_from_record(data: Mapping[str, Any], *, source: str) -> SearchSpace:
    """A space recorded with :meth:`SearchSpace.to_dict` (``search.yaml``), validated again.

    Resuming uses the recorded copy, not the original file: that file may have changed, or may not
    exist on the machine (or in the Ray job's folder) that resumes.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: the recorded search space is not a mapping")
    record = dict(data)
    record.pop("source", None)
    return _parse(record, name=str(record.get("name", "recorded")), source=source)


def _parse(data: dict[str, Any], *, name: str, source: str) -> SearchSpace:
    unknown = sorted(set(data) - set(_TOP_KEYS), key=str)
    if unknown:
        raise ConfigError(f"{source}: unknown key '{unknown[0]}' (allowed: {', '.join(_TOP_KEYS)})")
    name = data.get("name", name)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{source}: name must be a non-empty string, got {name!r}")
    metric = data.get("metric", DEFAULT_METRIC)
    if not isinstance(metric, str) or not metric:
        raise ConfigError(f"{source}: metric must be a non-empty string, got {metric!r}")
    mode = data.get("mode", "max")
    if mode not in MODES:
        raise ConfigError(f"{source}: mode must be max or min, got {mode!r}")
    raw_params = data.get("params")
    if not isinstance(raw_params, dict) or not raw_params:
        raise ConfigError(f"{source}: params must be a non-empty mapping of config keys to distributions")

    params: dict[str, Param] = {}
    for key, spec in raw_params.items():
        param = _parse_param(str(key), spec, where=f"{source}: params.{key}")
        _check_condition(param, params, raw_params, where=f"{source}: params.{key}.condition")
        params[param.name] = param

    fixed = data.get("fixed") or {}
    from_mapping(fixed, source=f"{source}: fixed")
    both = [key for key in params if key in fixed]
    if both:
        raise ConfigError(f"{source}: fixed.{both[0]}: '{both[0]}' is both fixed and searched")

    points = data.get("points_to_evaluate") or []
    if not isinstance(points, list):
        raise ConfigError(f"{source}: points_to_evaluate must be a list of mappings")
    for i, point in enumerate(points):
        _check_point(point, params, where=f"{source}: points_to_evaluate[{i}]")

    return SearchSpace(
        name=name,
        source=source,
        metric=metric,
        mode=mode,
        params=params,
        fixed=dict(fixed),
        points_to_evaluate=tuple(dict(p) for p in points),
    )


def _parse_param(name: str, spec: Any, *, where: str) -> Param:
    if name not in FIELD_NAMES:
        known = ", ".join(FIELD_NAMES)
        raise ConfigError(f"{where}: unknown parameter '{name}' (not a GlassConfig field; known: {known})")
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping with 'type' and its range or choices")
    kind = spec.get("type")
    if kind not in PARAM_TYPES:
        raise ConfigError(f"{where}: unknown type {kind!r} (expected {', '.join(PARAM_TYPES)})")
    allowed = {"type", "condition", *(("choices",) if kind == "categorical" else (*_NUMERIC_KEYS, *_RANGE_EXTRAS))}
    extra = sorted(set(spec) - allowed, key=str)
    if extra:
        listed = ", ".join(sorted(allowed))
        raise ConfigError(f"{where}: key '{extra[0]}' does not apply to type {kind} (allowed: {listed})")
    condition = _parse_condition(spec.get("condition"), where=f"{where}.condition")

    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: a categorical parameter needs a non-empty list of choices")
        for choice in choices:
            from_mapping({name: choice}, source=f"{where}.choices")
        return Param(name=name, type=kind, choices=tuple(choices), condition=condition)

    low, high, log, step = (spec.get(k) for k in _NUMERIC_KEYS)
    is_valid, expected = (is_int, "an integer") if kind == "int" else (is_number, "a finite number")
    for key, value in (("low", low), ("high", high)):
        if not is_valid(value):
            raise ConfigError(f"{where}.{key}: expected {expected}, got {value!r}")
    if low >= high:
        raise ConfigError(f"{where}: empty range, low ({low}) must be below high ({high})")
    if not isinstance(log, (bool, type(None))):
        raise ConfigError(f"{where}.log: expected true or false, got {log!r}")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0, got {low}")
    if step is not None:
        if not is_valid(step) or step <= 0:
            raise ConfigError(f"{where}.step: expected {expected} > 0, got {step!r}")
        if log:
            raise ConfigError(f"{where}: step and log cannot be combined")
        spans = (high - low) / step
        if abs(spans - round(spans)) > 1e-9:
            raise ConfigError(f"{where}: the range {low}..{high} is not a whole number of steps of {step}")
    units = spec.get("units")
    if units is not None and (units not in UNITS or kind != "float" or step is not None):
        raise ConfigError(f"{where}.units: expected {', '.join(UNITS)} on a float range without step, got {units!r}")
    cast = int if kind == "int" else float
    if units is None:  # in norm units the config value is only known per run (target_embed_dim)
        for key, value in (("low", low), ("high", high)):
            from_mapping({name: cast(value)}, source=f"{where}.{key}")  # e.g. a quantile outside [0, 1]
    overrides = _parse_overrides(spec.get("override"), kind=kind, log=bool(log), where=f"{where}.override")
    return Param(
        name=name,
        type=kind,
        low=cast(low),
        high=cast(high),
        log=bool(log),
        step=None if step is None else cast(step),
        condition=condition,
        units=units,
        overrides=overrides,
    )


def _parse_overrides(raw: Any, *, kind: str, log: bool, where: str) -> tuple[tuple[tuple[str, Any], float, float], ...]:
    """``override: [{when: {key: value}, low: .., high: ..}]``: another range where a run-config key
    (not a searched parameter) has a value, e.g. the live noise range of the manifold mode."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: expected a list of {{when: {{key: value}}, low: .., high: ..}}")
    out = []
    for i, item in enumerate(raw):
        here = f"{where}[{i}]"
        if not isinstance(item, dict) or set(item) != {"when", "low", "high"}:
            raise ConfigError(f"{here}: expected exactly the keys when, low and high")
        when = _parse_condition(item["when"], where=f"{here}.when")
        assert when is not None
        _check_config_key(when, where=f"{here}.when")
        low, high = item["low"], item["high"]
        ok = is_int if kind == "int" else is_number
        if not (ok(low) and ok(high)) or low >= high or (log and low <= 0):
            raise ConfigError(
                f"{here}: expected low < high (numbers{', > 0 for a log range' if log else ''}), got {low!r}, {high!r}"
            )
        out.append((when, float(low), float(high)))
    return tuple(out)


def _check_config_key(condition: tuple[str, Any], *, where: str) -> None:
    """A condition on the run config: a known key and a value valid for it."""
    key, value = condition
    if key not in FIELD_NAMES:
        raise ConfigError(f"{where}: '{key}' is neither a searched parameter declared above nor a config key")
    from_mapping({key: value}, source=where)


def _parse_condition(raw: Any, *, where: str) -> tuple[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ConfigError(f"{where}: expected one 'param: value' pair, e.g. {{mining: true}}")
    ((key, value),) = raw.items()
    return str(key), value


def _check_condition(param: Param, earlier: Mapping[str, Param], searched: Any, *, where: str) -> None:
    """The controlling parameter must be a categorical declared above, and the value one of its choices."""
    if param.condition is None:
        return
    key, value = param.condition
    controller = earlier.get(key)
    if controller is None and key not in searched:
        _check_config_key(param.condition, where=where)  # a run-config key, resolved per category
        return
    if controller is None:
        raise ConfigError(f"{where}: '{key}' is not a searched parameter declared before '{param.name}'")
    if controller.type != "categorical":
        raise ConfigError(f"{where}: '{key}' must be categorical to be a condition, it is {controller.type}")
    if not controller.contains(value):
        raise ConfigError(f"{where}: {key}={value!r} is not {controller.describe()}")


def _check_point(point: Any, params: Mapping[str, Param], *, where: str) -> None:
    if not isinstance(point, dict):
        raise ConfigError(f"{where}: expected a mapping of parameter values")
    for key, value in point.items():
        param = params.get(key)
        if param is None:
            raise ConfigError(f"{where}: '{key}' is not a searched parameter (searched: {', '.join(params)})")
        if param.units is None and not param.contains(value):
            raise ConfigError(f"{where}: {key}={value!r} is outside the space ({param.describe()})")
        if param.units is not None:
            from_mapping({key: value}, source=f"{where}.{key}")
        if param.condition is not None and param.condition[0] in params:
            ckey, cvalue = param.condition
            if ckey in point and not _same(point[ckey], cvalue):
                raise ConfigError(f"{where}: {key} is set but only searched when {ckey}={cvalue!r}")
