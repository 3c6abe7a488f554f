"""The one typed configuration object of a GLASS run, with the seed's parameter names.

Model fields map 1:1 onto anomalib's ``Glass(...)`` arguments and the official flags; run fields
(epochs, batch size, ...) hold what a training run needs besides the model.  A config is loaded from
YAML, overridden by ``key=value`` strings (values parsed as YAML) and validated in one place, so a
bad key or value is reported as one line before anything runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from glass_tune.config.yaml_values import decode_yaml_bytes, is_int, is_number, parse_yaml
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


@dataclass(frozen=True)
class GlassConfig:
    """Everything that determines a GLASS training run; defaults are the paper's."""

    # --- model (names as in anomalib's Glass and the official code) ---
    input_shape: tuple[int, int] = (288, 288)
    backbone: str = "wide_resnet50_2"
    pretrain_embed_dim: int = 1536
    target_embed_dim: int = 1536
    patchsize: int = 3
    patchstride: int = 1
    pre_trained: bool = True
    backbone_weights: str | None = None
    layers: tuple[str, ...] = ("layer2", "layer3")
    pre_projection: int = 1
    discriminator_layers: int = 2
    discriminator_hidden: int = 1024
    learning_rate: float = 1e-4
    step: int = 20
    svd: int | str = "auto"  # per category: official table, else the official distribution judge
    gaussian_noise_std: float = 0.015
    radius_quantile: float = 0.75
    focal_loss_quantile_threshold: float = 0.5
    mining: bool = True
    anomaly_source_path: str | None = None
    # --- run ---
    data_root: str | None = None
    category: str | None = None
    data_format: str = "auto"
    foreground: bool | str = "auto"
    val_source: str = "auto"  # split when the test set has defects with masks, else synthetic
    val_ratio: float = 0.5
    synthetic_val_ratio: float = 0.2  # share of the training images held out for synthetic validation
    val_dir: str | None = None
    epochs: int = 640
    batch_size: int = 8
    samples_per_epoch: int = 392
    eval_interval: int = 1
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    # --- speed (how a run computes; the numbers are the same up to float rounding) ---
    gas_loop: str = "hidden"
    feature_cache: bool | str = "auto"
    precision: str = "fp32"
    mask_protocol: str = "auto"

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


# --- validation --------------------------------------------------------------------------------


def _int(lo: int | None = None) -> tuple[Callable[[Any], Any], str]:
    def conv(v: Any) -> int:
        if not is_int(v) or (lo is not None and v < lo):
            raise ValueError
        return v

    return conv, "an integer" + (f" >= {lo}" if lo is not None else "")


def _float(
    lo: float, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False
) -> tuple[Callable[[Any], Any], str]:
    def conv(v: Any) -> float:
        if not is_number(v):
            raise ValueError
        v = float(v)
        if v < lo or (lo_open and v == lo) or (hi is not None and (v > hi or (hi_open and v == hi))):
            raise ValueError
        return v

    left, right = "(" if lo_open else "[", ")" if hi_open else "]"
    desc = f"a number in {left}{lo}, {hi}{right}" if hi is not None else f"a number {'>' if lo_open else '>='} {lo}"
    return conv, desc


def _bool() -> tuple[Callable[[Any], Any], str]:
    def conv(v: Any) -> bool:
        if not isinstance(v, bool):
            raise ValueError
        return v

    return conv, "true or false"


def _str(*, optional: bool = False, choices: Iterable[Any] | None = None) -> tuple[Callable[[Any], Any], str]:
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


def _bool_or(*words: str) -> tuple[Callable[[Any], Any], str]:
    """true, false or one of ``words`` (``1`` is not ``true`` here, although ``1 == True``)."""

    def conv(v: Any) -> Any:
        if isinstance(v, bool) or (isinstance(v, str) and v in words):
            return v
        raise ValueError

    return conv, "true, false or " + ", ".join(words)


def _shape() -> tuple[Callable[[Any], Any], str]:
    def conv(v: Any) -> tuple[int, int]:
        if is_int(v):
            v = [v, v]
        if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(is_int(x) and x >= 32 for x in v):
            raise ValueError
        return (int(v[0]), int(v[1]))

    return conv, "[height, width] with both >= 32 (or one integer for a square)"


def _layers() -> tuple[Callable[[Any], Any], str]:
    def conv(v: Any) -> tuple[str, ...]:
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, (list, tuple)) or not v or not all(isinstance(x, str) and x for x in v):
            raise ValueError
        return tuple(v)

    return conv, "a non-empty list of backbone layer names"


_RULES: dict[str, tuple[Callable[[Any], Any], str]] = {
    "input_shape": _shape(),
    "backbone": _str(),
    "pretrain_embed_dim": _int(1),
    "target_embed_dim": _int(1),
    "patchsize": _int(1),
    "patchstride": _int(1),
    "pre_trained": _bool(),
    "backbone_weights": _str(optional=True),
    "layers": _layers(),
    "pre_projection": _int(0),
    "discriminator_layers": _int(1),
    "discriminator_hidden": _int(1),
    "learning_rate": _float(0.0, lo_open=True),
    "step": _int(0),
    "svd": _str(choices=SVD_CHOICES),
    "gaussian_noise_std": _float(0.0, lo_open=True),
    "radius_quantile": _float(0.0, 1.0),
    "focal_loss_quantile_threshold": _float(0.0, 1.0),
    "mining": _bool(),
    "anomaly_source_path": _str(optional=True),
    "data_root": _str(optional=True),
    "category": _str(optional=True),
    "data_format": _str(choices=DATA_FORMAT_CHOICES),
    "foreground": _bool_or("auto"),
    "val_source": _str(choices=VAL_SOURCE_CHOICES),
    "val_ratio": _float(0.0, 1.0, lo_open=True, hi_open=True),
    "synthetic_val_ratio": _float(0.0, 1.0, lo_open=True, hi_open=True),
    "val_dir": _str(optional=True),
    "epochs": _int(1),
    "batch_size": _int(1),
    "samples_per_epoch": _int(1),
    "eval_interval": _int(1),
    "seed": _int(0),
    "device": _str(choices=DEVICE_CHOICES),
    "num_workers": _int(0),
    "gas_loop": _str(choices=GAS_LOOP_CHOICES),
    "feature_cache": _bool_or("auto"),
    "precision": _str(choices=PRECISION_CHOICES),
    "mask_protocol": _str(choices=MASK_PROTOCOL_CHOICES),
}
assert set(_RULES) == set(FIELD_NAMES), "every config field needs a validation rule"


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
    files = resources.files(BUNDLED_CONFIG_PACKAGE).iterdir()
    return sorted(f.name.removesuffix(".yaml") for f in files if f.name.endswith(".yaml"))


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML config that must hold a mapping: a file path, or the name of a bundled profile.

    A bare name without suffix or separator (``cpu_demo``) that is not a file names a bundled
    profile; errors name the file.
    """
    text = str(path)
    p = Path(text)
    if not p.is_file() and p.suffix == "" and "/" not in text and "\\" not in text:
        entry = resources.files(BUNDLED_CONFIG_PACKAGE) / f"{text}.yaml"
        if not entry.is_file():
            raise ConfigError(f"{text}: neither a config file nor a bundled profile ({', '.join(bundled_config_names())})")
        data, source = entry.read_bytes(), str(entry)
    elif not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    else:
        data, source = p.read_bytes(), str(p)
    doc = decode_yaml_bytes(data, source=source)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a mapping of config keys at the top level")
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


def _strip_provenance(data: dict[str, Any]) -> dict[str, Any]:
    """An exported best config carries a ``provenance`` block; training ignores it."""
    return {k: v for k, v in data.items() if k != "provenance"}


def save_config(config: GlassConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    atomic_write_text(Path(path), yaml.safe_dump(config.to_dict(), sort_keys=False))
