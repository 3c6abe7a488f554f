"""``glass-tune check-data`` and ``synth``: look at a dataset, or write the built-in one."""

from __future__ import annotations

import argparse
from pathlib import Path

from glass_tune.cli.common import (
    add_categories_flag,
    add_layout_flags,
    add_seed_flag,
    add_source_flags,
    add_verb,
    checked,
    config_flag,
    config_from_args,
)
from glass_tune.config.schema import MIN_IMAGE_SIDE, int_rule
from glass_tune.util.logs import get_logger

log = get_logger(__name__)


def cmd_check_data(args: argparse.Namespace) -> int:
    from glass_tune.training.data_check import (
        check_categories,
        format_report,
        raise_on_problems,
        select_categories,
    )

    config = config_from_args(args)
    reports = check_categories(config, select_categories(config, args.category))
    print("\n\n".join(format_report(r) for r in reports))
    raise_on_problems(reports)
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from glass_tune.data import generate_synthetic

    root = generate_synthetic(Path(args.out), categories=args.categories, seed=args.seed, size=args.size)
    log.info(f"synthetic dataset written to {root}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub,
        "check-data",
        summary="validate a dataset and print its per-category table",
        description="Read a dataset the way training will and print, per category, the image counts, "
        "mask coverage, image sizes, the validation split and every problem found. Exits 2 when a "
        "category cannot be trained; nothing is written.",
        example="glass-tune check-data --data /data/mvtec --category all",
        func=cmd_check_data,
    )
    add_source_flags(p, config_help="YAML config whose data keys apply (val_source, foreground, ...) (default: none)")
    add_categories_flag(p, verb="check")
    add_seed_flag(p, help="seed of the validation split")
    add_layout_flags(p)

    p = add_verb(
        sub,
        "synth",
        summary="write the built-in synthetic dataset (MVTec AD layout)",
        description="Write the procedural dataset the demo trains on, in the MVTec AD layout (train/good, "
        "test/<defect>, ground_truth/<defect>), so that it can be inspected or used with --data.",
        example="glass-tune synth runs/synthetic --categories marble --size 128",
        func=cmd_synth,
    )
    p.add_argument("out", metavar="OUT", help="folder to write the dataset into")
    p.add_argument("--categories", nargs="+", metavar="C", help="categories to write (default: all built-in ones)")
    p.add_argument("--seed", type=config_flag("seed"), default=0, metavar="S", help="seed of the generated images")
    p.add_argument("--size", type=checked(int_rule(MIN_IMAGE_SIDE)), default=128, metavar="PX", help="image side in pixels")
