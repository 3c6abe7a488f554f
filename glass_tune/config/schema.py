"""The one typed configuration object of a GLASS run, with the seed's parameter names.

Model fields carry the names of anomalib's ``Glass(...)`` arguments and the official flags; run
fields (epochs, batch size, ...) hold what a training run needs besides the model; speed fields say
how a run computes.  Each field is declared once, with its default, validation rule and groups, and
the key lists other modules need (``GlassModel``'s keywords, anomalib's init arguments) come from
:func:`fields_in`.  A config is loaded from YAML, overridden by ``key=value`` strings (values parsed
as YAML) and validated in one place, so a bad key or value is reported as one line before anything
runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from glass_tune.config.yaml_values import bundled_names, decode_yaml_bytes, find_yaml, is_int, is_number, parse_yaml
from glass_tune.util.atomic_io import atomic_write_text
from glass_tune.util.errors import ConfigError, did_you_mean

SVD_CHOICES = (0, 1, "auto")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
DATA_FORMAT_CHOICES = ("auto", "mvtec", "visa", "folder")
VAL_SOURCE_CHOICES = ("auto", "split", "synthetic", "test", "dir")
GAS_LOOP_CHOICES = ("hidden", "fast", "reference")
PRECISION_CHOICES = ("fp32", "tf32", "bf16")
# How ground-truth masks are binarised after resizing (pixel metrics): auto picks the official way
# for the layout (mvtec: bilinear then truncation, visa: bilinear then > 0, folder: nearest).
MASK_PROTOCOL_CHOICES = ("auto", "mvtec", "visa", "nearest")
MIN_IMAGE_SIDE = 32  # the smallest input_shape side and synthetic image size, in pixels
MAX_SEED = 2**32 - 1  # numpy's global seed (util/runtime.py) takes 0 .. 2**32 - 1


# --- validation rules (a converter and what it expects, for the one-line error) ---------------------

Rule = tuple[Callable[[Any], Any], str]


def _range_text(lo: float | None, hi: float | None, *, lo_open: bool = False, hi_open: bool = False) -> str:
    """`` in [lo, hi]``, `` >= lo`` or nothing: the end of a rule's "expected ..." text (an upper bound
    comes with a lower one)."""
    if lo is None:
        return ""
    if hi is None:
        return f" {'>' if lo_open else '>='} {lo}"
    return f" in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"


def int_rule(lo: int | None = None, hi: int | None = None) -> Rule:
    """An integer (not a bool) in ``[lo, hi]``; config keys, search options and CLI flags share it."""

    def conv(v: Any) -> int:
        if not is_int(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError
        return v

    return conv, "an integer" + _range_text(lo, hi)


def float_rule(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False) -> Rule:
    """A finite number (NaN and infinities never pass) between optional bounds, each closed or open."""

    def conv(v: Any) -> float:
        if not is_number(v):
            raise ValueError
        v = float(v)
        if lo is not None and (v < lo or (lo_open and v == lo)):
            raise ValueError
        if hi is not None and (v > hi or (hi_open and v == hi)):
            raise ValueError
        return v

    bounds = _range_text(lo, hi, lo_open=lo_open, hi_open=hi_open)
    return conv, f"a number{bounds}" if bounds else "a finite number"


def _bool() -> Rule:
    def conv(v: Any) -> bool:
        if not isinstance(v, bool):
            raise ValueError
        return v

    return conv, "true or false"


def _str(*, optional: bool = False, choices: Iterable[Any] | None = None) -> Rule:
    allowed = tuple(choices) if choices is not None else None

    def conv(v: Any) -> Any:
        if v is None and optional:
            return None
        if allowed is not None:
            if v not in allowed or isinstance(v, bool):
                raise ValueError
            return v
        if not isinstance(v, str) or not v:
            raise ValueError
        return v

    if allowed is not None:
        return conv, "one of " + ", ".join(map(str, allowed))
    return conv, "a non-empty string" + (" or null" if optional else "")


def _bool_or(*words: str) -> Rule:
    """true, false or one of ``words`` (``1`` is not ``true`` here, although ``1 == True``)."""

    def conv(v: Any) -> Any:
        if isinstance(v, bool) or (isinstance(v, str) and v in words):
            return v
        raise ValueError

    return conv, "true, false or " + ", ".join(words)


def _shape() -> Rule:
    def conv(v: Any) -> tuple[int, int]:
        if is_int(v):
            v = [v, v]
        if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(is_int(x) and x >= MIN_IMAGE_SIDE for x in v):
            raise ValueError
        return (int(v[0]), int(v[1]))

    return conv, f"[height, width] with both >= {MIN_IMAGE_SIDE} (or one integer for a square)"


def _layers() -> Rule:
    def conv(v: Any) -> tuple[str, ...]:
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, (list, tuple)) or not v or not all(isinstance(x, str) and x for x in v):
            raise ValueError
        return tuple(v)

    return conv, "a non-empty list of backbone layer names"


# --- field declarations: each config key once, with its rule and groups -------------------------

Group = Literal["model", "run", "speed", "glass_model", "anomalib", "shape"]
"""A field's section (``model``, ``run``, ``speed``; saved configs list them in that order) or a use:
``glass_model`` = a ``GlassModel(...)`` keyword, ``anomalib`` = an anomalib ``Glass(...)`` init argument,
``shape`` = the feature maps' sizes depend on it (a search checks its extremes before Ray starts)."""


def _declare(section: Group) -> Callable[..., Any]:
    """The declarator of one section's fields: default, validation rule, and which uses the field joins."""

    def declare(default: Any, rule: Rule, *, glass_model: bool = False, anomalib: bool = False, shape: bool = False) -> Any:
        uses = ((section, True), ("glass_model", glass_model), ("anomalib", anomalib), ("shape", shape))
        groups = frozenset(g for g, joins in uses if joins)
        return dataclasses.field(default=default, metadata={"rule": rule, "groups": groups})

    return declare


_model, _run, _speed = _declare("model"), _declare("run"), _declare("speed")


@dataclass(frozen=True)
class GlassConfig:
    """Everything that determines a GLASS training run; defaults are the paper's.

    Each field is declared once, with its default, its validation rule and its groups
    (:func:`fields_in`); a new key is one line here.
    """

    # --- model (names as in anomalib's Glass and the official code) ---
    input_shape: tuple[int, int] = _model((288, 288), _shape(), glass_model=True, anomalib=True, shape=True)
    backbone: str = _model("wide_resnet50_2", _str(), glass_model=True, anomalib=True, shape=True)
    pretrain_embed_dim: int = _model(1536, int_rule(1), glass_model=True, anomalib=True)
    target_embed_dim: int = _model(1536, int_rule(1), glass_model=True, anomalib=True)
    patchsize: int = _model(3, int_rule(1), glass_model=True, anomalib=True, shape=True)
    patchstride: int = _model(1, int_rule(1), glass_model=True, anomalib=True, shape=True)
    pre_trained: bool = _model(True, _bool(), glass_model=True, anomalib=True)
    backbone_weights: str | None = _model(None, _str(optional=True), glass_model=True)
    layers: tuple[str, ...] = _model(("layer2", "layer3"), _layers(), glass_model=True, anomalib=True, shape=True)
    pre_projection: int = _model(1, int_rule(0), glass_model=True, anomalib=True)
    discriminator_layers: int = _model(2, int_rule(1), glass_model=True, anomalib=True)
    discriminator_hidden: int = _model(1024, int_rule(1), glass_model=True, anomalib=True)
    learning_rate: float = _model(1e-4, float_rule(0.0, lo_open=True), anomalib=True)
    step: int = _model(20, int_rule(0), glass_model=True, anomalib=True)
    # svd auto: per category, the official table, else the official distribution judge
    svd: int | str = _model("auto", _str(choices=SVD_CHOICES), glass_model=True, anomalib=True)
    gaussian_noise_std: float = _model(0.015, float_rule(0.0, lo_open=True), glass_model=True, anomalib=True)
    radius_quantile: float = _model(0.75, float_rule(0.0, 1.0), glass_model=True, anomalib=True)
    focal_loss_quantile_threshold: float = _model(0.5, float_rule(0.0, 1.0), glass_model=True, anomalib=True)
    mining: bool = _model(True, _bool(), glass_model=True, anomalib=True)
    anomaly_source_path: str | None = _model(None, _str(optional=True), anomalib=True)
    # --- run ---
    data_root: str | None = _run(None, _str(optional=True))
    category: str | None = _run(None, _str(optional=True))
    data_format: str = _run("auto", _str(choices=DATA_FORMAT_CHOICES))
    foreground: bool | str = _run("auto", _bool_or("auto"))
    # val_source auto: split when the test set has defects with masks, else synthetic
    val_source: str = _run("auto", _str(choices=VAL_SOURCE_CHOICES))
    val_ratio: float = _run(0.5, float_rule(0.0, 1.0, lo_open=True, hi_open=True))
    # share of the training images held out for synthetic validation
    synthetic_val_ratio: float = _run(0.2, float_rule(0.0, 1.0, lo_open=True, hi_open=True))
    val_dir: str | None = _run(None, _str(optional=True))
    epochs: int = _run(640, int_rule(1))
    batch_size: int = _run(8, int_rule(1))
    samples_per_epoch: int = _run(392, int_rule(1))
    eval_interval: int = _run(1, int_rule(1))
    seed: int = _run(0, int_rule(0, MAX_SEED))
    device: str = _run("auto", _str(choices=DEVICE_CHOICES))
    num_workers: int = _run(0, int_rule(0))
    # --- speed (how a run computes; the numbers are the same up to float rounding) ---
    gas_loop: str = _speed("hidden", _str(choices=GAS_LOOP_CHOICES), glass_model=True)
    feature_cache: bool | str = _speed("auto", _bool_or("auto"))
    precision: str = _speed("fp32", _str(choices=PRECISION_CHOICES), glass_model=True)
    mask_protocol: str = _speed("auto", _str(choices=MASK_PROTOCOL_CHOICES))

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-serialisable mapping (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def replace(self, **changes: Any) -> GlassConfig:
        """A validated copy with ``changes`` applied."""
        return from_mapping({**self.to_dict(), **changes}, source="override")


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(GlassConfig))
_RULES: dict[str, Rule] = {f.name: f.metadata["rule"] for f in dataclasses.fields(GlassConfig) if "rule" in f.metadata}
assert set(_RULES) == set(FIELD_NAMES), "declare every config field with _model/_run/_speed (its rule and groups)"


def rule_of(key: str) -> Rule:
    """A config key's validation rule (its converter and what it expects): a flag that sets the key checks by it."""
    return _RULES[key]


def fields_in(*, group: Group) -> tuple[str, ...]:
    """The config keys of one group, in declaration order: the one list of, e.g., GlassModel's
    keywords or anomalib's init arguments, so those lists cannot drift from the config."""
    return tuple(f.name for f in dataclasses.fields(GlassConfig) if group in f.metadata["groups"])


def from_mapping(values: Mapping[str, Any], *, source: str = "config") -> GlassConfig:
    """Validate ``values`` (missing keys take defaults) into a config; ``source`` names where they came from."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{source}: expected a mapping of config keys, got {type(values).__name__}")
    unknown = sorted(set(values) - set(FIELD_NAMES))
    if unknown:
        raise ConfigError(
            f"{source}: unknown config key '{unknown[0]}'{did_you_mean(unknown[0], FIELD_NAMES)} (known keys: {', '.join(FIELD_NAMES)})"
        )
    clean: dict[str, Any] = {}
    for key, value in values.items():
        conv, expected = _RULES[key]
        try:
            clean[key] = conv(value)
        except (ValueError, TypeError):
            raise ConfigError(f"{source}: {key}={value!r} is invalid, expected {expected}") from None
    return GlassConfig(**clean)


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``key=value`` and parse the value as YAML (``[128,128]``, ``true``, ``1e-4``, ``null``)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: expected key=value")
    value = parse_yaml(raw, source=f"--set {key}") if raw.strip() else None
    return key, value


BUNDLED_CONFIG_PACKAGE = "glass_tune.config.profiles"


def bundled_config_names() -> list[str]:
    """Config profiles shipped with the package (``--config cpu_demo``)."""
    return bundled_names(BUNDLED_CONFIG_PACKAGE)


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML config that must hold a mapping: a file path, or the name of a bundled profile
    (``glass_tune.config.yaml_values.find_yaml``); errors name the file."""
    found = find_yaml(path, package=BUNDLED_CONFIG_PACKAGE, kind="config", bundled="profile")
    doc = decode_yaml_bytes(found.data, source=found.source)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{found.source}: expected a mapping of config keys at the top level")
    return doc


def load_config(
    path: str | Path | None = None,
    *,
    overrides: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
    base: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> GlassConfig:
    """Later wins: defaults, ``base``, the YAML file at ``path``, ``fixed`` (a search space's fixed
    values: the space file is the truth for what a search holds constant), ``extra`` (CLI flags,
    None meaning unset) and finally ``--set`` overrides."""
    values: dict[str, Any] = dict(base or {})
    source = "config"
    if path is not None:
        values.update(_strip_provenance(read_yaml_mapping(path)))
        source = str(path)
        from_mapping(values, source=source)  # report file errors against the file
    values.update(fixed or {})
    values.update({k: v for k, v in (extra or {}).items() if v is not None})
    for text in overrides:
        key, value = parse_override(text)
        values[key] = value
    return from_mapping(values, source="--set" if overrides else source)


PROVENANCE_KEY = "provenance"  # an exported config's block saying where it came from; training ignores it


def _strip_provenance(data: dict[str, Any]) -> dict[str, Any]:
    """An exported best config carries a ``provenance`` block; training ignores it."""
    return {k: v for k, v in data.items() if k != PROVENANCE_KEY}


def config_document(config: GlassConfig, provenance: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A config file's content: the config's keys, then its ``provenance`` block when it has one
    (an exported best config); :func:`load_config` reads it back."""
    return {**config.to_dict(), **({PROVENANCE_KEY: provenance} if provenance is not None else {})}


def config_yaml(config: GlassConfig, provenance: Mapping[str, Any] | None = None) -> str:
    """:func:`config_document` as YAML: a run's resolved config, ``best_config.yaml``, ``export --format yaml``."""
    return yaml.safe_dump(config_document(config, provenance), sort_keys=False)


def save_config(config: GlassConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    atomic_write_text(Path(path), config_yaml(config))
