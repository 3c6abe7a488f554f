"""What the verbs share: the help layout, verb registration, the flags several verbs take, and the
one way flags become a config.

Heavy imports (torch, ray) happen inside the command functions so ``--help`` and errors stay fast.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from glass_tune.config.schema import (
    DATA_FORMAT_CHOICES,
    DEVICE_CHOICES,
    VAL_SOURCE_CHOICES,
    GlassConfig,
    Rule,
    int_rule,
    load_config,
    rule_of,
)
from glass_tune.util.logs import get_logger

log = get_logger(__name__)

Command = Callable[[argparse.Namespace], int]
EXAMPLE_HEADER = "example:"


class HelpFormatter(argparse.HelpFormatter):
    """Descriptions wrap, examples keep their lines; a flag's default is appended unless its help says it."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(EXAMPLE_HEADER):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        shown = not any(action.default is v for v in (None, False, argparse.SUPPRESS))  # `is`: 0 == False
        if action.option_strings and shown and "default" not in text:
            text += " (default: %(default)s)"
        return text


def add_verb(
    sub: argparse._SubParsersAction, name: str, *, summary: str, description: str, example: str, func: Command
) -> argparse.ArgumentParser:
    """A verb with its one-line summary (the verb list), a paragraph and an example (its ``--help``)."""
    parser = sub.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"{EXAMPLE_HEADER}\n  " + example.strip().replace("\n", "\n  "),
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(func=func)
    return parser


def _number(text: str) -> int | float:
    """``3`` as an int; ``1e-4``, ``nan`` and ``inf`` as floats: the rule decides which it takes."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def checked(rule: Rule) -> Callable[[str], Any]:
    """An argparse ``type`` that holds a flag's number to ``rule`` (a config key's, a search option's or
    its own), so NaN, an infinity or a value out of range ends as one line naming the flag, before any work."""
    conv, expected = rule

    def parse(text: str) -> Any:
        try:
            return conv(_number(text))
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None

    return parse


def config_flag(key: str) -> Callable[[str], Any]:
    """The ``type`` of a flag that sets a config key: the key's own rule, so flag and ``--set`` agree."""
    return checked(rule_of(key))


PORT = checked(int_rule(0, 65535))  # 0: a free port


def config_default(key: str) -> str:
    """How ``--help`` names a config flag's default: a ``--config`` file's value, else the built-in one."""
    field = next(f for f in dataclasses.fields(GlassConfig) if f.name == key)
    return f"default: from --config, else {field.default}"


# Dedicated flags and the config keys they set (None = not given); --set overrides them all.
_CONFIG_FLAGS = {
    "data": "data_root",
    "epochs": "epochs",
    "device": "device",
    "seed": "seed",
    "data_format": "data_format",
    "val_source": "val_source",
    "val_ratio": "val_ratio",
}


def config_from_args(args: argparse.Namespace, *, fixed: Mapping[str, Any] | None = None) -> GlassConfig:
    """The one way a verb turns its flags into a config: file, ``fixed`` (a space's), flags, ``--set``."""
    extra = {key: getattr(args, flag, None) for flag, key in _CONFIG_FLAGS.items()}
    if isinstance(getattr(args, "category", None), str):  # train names one; tune/check-data a list
        extra["category"] = args.category
    return load_config(args.config, overrides=args.set or (), fixed=fixed, extra=extra)


class _DeprecatedLayoutFlag(argparse.Action):
    """``--format`` named the dataset layout before 0.2; it now means an export format only."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[override]
        log.warning("--format for the dataset layout is deprecated, use --layout")
        setattr(namespace, self.dest, values)


def add_layout_flags(p: argparse.ArgumentParser) -> None:
    """How the dataset is read and validated: layout, validation source and split ratio."""
    p.add_argument("--layout", dest="data_format", choices=DATA_FORMAT_CHOICES, help="dataset layout (default: detected)")
    p.add_argument(
        "--format",
        dest="data_format",
        choices=DATA_FORMAT_CHOICES,
        action=_DeprecatedLayoutFlag,
        help="deprecated spelling of --layout (default: detected)",
    )
    p.add_argument(
        "--val-source",
        choices=VAL_SOURCE_CHOICES,
        help="validation for epoch selection and search: auto (split when the test set has defects with masks, "
        "else synthetic), split of the test set, synthetic defects on held-out training images, the test set, "
        "or val_dir "
        f"({config_default('val_source')})",
    )
    p.add_argument(
        "--val-ratio",
        type=config_flag("val_ratio"),
        metavar="R",
        help=f"share of the test set used for validation with split ({config_default('val_ratio')})",
    )


def add_source_flags(p: argparse.ArgumentParser, *, config_help: str) -> None:
    """--data, --config and --set: where a run's data and config come from (train, tune, check-data)."""
    p.add_argument("--data", metavar="ROOT", help="dataset root, MVTec/VisA/folder layout (default: built-in synthetic data)")
    p.add_argument("--config", metavar="FILE|NAME", help=config_help)
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config key (value parsed as YAML); repeatable (default: none)",
    )


def add_categories_flag(p: argparse.ArgumentParser, *, verb: str) -> None:
    """The categories of the commands that work on several at once (tune, submit, check-data)."""
    p.add_argument("--category", nargs="+", metavar="C", help=f"categories to {verb}, or 'all' (default: the first)")


def add_device_flag(p: argparse.ArgumentParser, *, default: str | None = None, help: str = "device") -> None:
    p.add_argument(
        "--device", choices=DEVICE_CHOICES, default=default, help=help if default else f"{help} ({config_default('device')})"
    )


def add_seed_flag(p: argparse.ArgumentParser, *, help: str) -> None:
    p.add_argument("--seed", type=config_flag("seed"), metavar="S", help=f"{help} ({config_default('seed')})")


def add_experiment_arg(p: argparse.ArgumentParser, *, help: str = "experiment folder or URI (runs/tune/NAME)") -> None:
    p.add_argument("experiment", metavar="EXPERIMENT", help=help)


def add_verbosity_flags(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """-v/-q before or after the verb; a subcommand's flag only counts when given (SUPPRESS)."""
    default = 0 if top else argparse.SUPPRESS
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", dest="verbosity", action="store_const", const=1, default=default, help="more detail (debug lines)"
    )
    group.add_argument(
        "-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=default, help="only warnings and errors"
    )
