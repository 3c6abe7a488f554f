"""Take a finished search home: its exported config (with provenance) rendered in four formats.

``yaml``/``json`` feed ``glass-tune train --config`` (the provenance block is ignored there);
``anomalib`` is an anomalib ``Glass`` model config; ``official`` is the official GLASS command line.
The record itself (which trial, its provenance) is ``glass_tune.experiment.best_config``'s: this
module only renders it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from glass_tune.config.schema import GlassConfig, config_document, config_yaml, fields_in
from glass_tune.util.errors import UserError

# timm names -> the official code's backbone keys (backbones.py)
OFFICIAL_BACKBONES = {
    "wide_resnet50_2": "wideresnet50",
    "wide_resnet101_2": "wideresnet101",
    "resnet50": "resnet50",
    "resnet101": "resnet101",
}


def render(config: GlassConfig, provenance: dict[str, Any], fmt: str) -> str:
    """The best config in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt not in RENDERERS:
        raise UserError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    return RENDERERS[fmt](config, provenance)


def json_config(config: GlassConfig, provenance: dict[str, Any]) -> str:
    """The config and its provenance as JSON (``glass-tune train --config`` reads it like the YAML)."""
    return json.dumps(config_document(config, provenance), indent=2) + "\n"


def anomalib_config(config: GlassConfig, provenance: dict[str, Any]) -> str:
    """An ``anomalib train --config`` file for ``anomalib.models.Glass`` (v2.5+)."""
    plain = config.to_dict()  # tuples as lists
    # anomalib's Glass(...) takes anomaly_source_path second; the rest follow the config's order
    init_args = dict.fromkeys(("input_shape", "anomaly_source_path")) | {k: plain[k] for k in fields_in(group="anomalib")}
    init_args["backbone"] = _anomalib_backbone(config.backbone)
    doc = {
        "seed_everything": config.seed,
        "model": {"class_path": "anomalib.models.Glass", "init_args": init_args},
        "data": {
            "class_path": "anomalib.data.MVTecAD",
            "init_args": {
                "root": config.data_root,
                "category": config.category,
                "train_batch_size": config.batch_size,
                "eval_batch_size": config.batch_size,
            },
        },
        "trainer": {"max_epochs": config.epochs, "limit_train_batches": config.samples_per_epoch // config.batch_size + 1},
    }
    header = (
        f"# glass-tune best config for {provenance.get('category')} (trial {provenance.get('trial_id')}, "
        f"score {provenance.get('metrics', {}).get('score')})\n"
        "# anomalib's timm backbone is named with an explicit weight tag so it matches the official torchvision weights.\n"
        + verdict_comment(provenance)
    )
    return header + yaml.safe_dump(doc, sort_keys=False)


def _anomalib_backbone(name: str) -> str:
    """anomalib's default timm tag for wide_resnet50_2 is racm_in1k; the official weights are tv_in1k."""
    return name if "." in name or name not in OFFICIAL_BACKBONES else f"{name}.tv_in1k"


def verdict_comment(provenance: dict[str, Any]) -> str:
    """The confirmation's verdict as a comment line (formats without a provenance block)."""
    confirmation = provenance.get("confirmation")
    return "" if not confirmation else f"# confirmation: {confirmation['verdict']}\n"


def official_command(config: GlassConfig, provenance: dict[str, Any]) -> str:
    """The official ``main.py`` command line; svd is forced with --distribution 2 (manifold) / 3 (hypersphere)."""
    note = ""
    if config.backbone not in OFFICIAL_BACKBONES:
        note = f"# backbone {config.backbone!r} has no official key; known keys: {sorted(OFFICIAL_BACKBONES.values())}\n"
    root = Path(config.data_root or "DATA_ROOT")
    aug = config.anomaly_source_path or "DTD_IMAGES"
    args = [
        "python",
        "main.py",
        "--gpu",
        "0",
        "--seed",
        str(config.seed),
        "--test",
        "ckpt",
        "net",
        "-b",
        OFFICIAL_BACKBONES.get(config.backbone, config.backbone),
    ]
    for layer in config.layers:
        args += ["-le", layer]
    args += [
        "--pretrain_embed_dimension",
        str(config.pretrain_embed_dim),
        "--target_embed_dimension",
        str(config.target_embed_dim),
        "--patchsize",
        str(config.patchsize),
        "--meta_epochs",
        str(config.epochs),
        "--eval_epochs",
        str(config.eval_interval),
        "--dsc_layers",
        str(config.discriminator_layers),
        "--dsc_hidden",
        str(config.discriminator_hidden),
        "--pre_proj",
        str(config.pre_projection),
        "--mining",
        str(int(config.mining)),
        "--noise",
        repr(config.gaussian_noise_std),
        "--radius",
        repr(config.radius_quantile),
        "--p",
        repr(config.focal_loss_quantile_threshold),
        "--step",
        str(config.step),
        "--limit",
        str(config.samples_per_epoch),
        "--lr",
        repr(config.learning_rate),
        "dataset",
        "--distribution",
        "3" if config.svd == 1 else "2",
        "--mean",
        "0.5",
        "--std",
        "0.1",
        "--fg",
        _official_fg(config),
        "--rand_aug",
        "1",
        "--batch_size",
        str(config.batch_size),
        "--resize",
        str(config.input_shape[0]),
        "--imagesize",
        str(config.input_shape[0]),
        "-d",
        str(config.category),
        "visa" if config.data_format == "visa" else "mvtec",
        str(root),
        str(aug),
    ]
    header = f"# glass-tune best config for {provenance.get('category')} (trial {provenance.get('trial_id')})\n"
    return header + verdict_comment(provenance) + note + shlex.join(args) + "\n"


def _official_fg(config: GlassConfig) -> str:
    """--fg 1 reads <root>/fg_mask/<category>/, as glass-tune's ``foreground`` does."""
    if config.foreground == "auto":
        used = config.data_root is not None and (Path(config.data_root) / "fg_mask" / str(config.category)).is_dir()
    else:
        used = bool(config.foreground)
    return "1" if used else "0"


# --format NAME -> the text of the exported config in that format; the one list of config formats
RENDERERS: dict[str, Callable[[GlassConfig, dict[str, Any]], str]] = {
    "yaml": config_yaml,
    "json": json_config,
    "anomalib": anomalib_config,
    "official": official_command,
}
FORMATS = tuple(RENDERERS)


def export_experiment(experiment: str, *, fmt: str, out: str | None, category: str | None = None) -> str:
    """The best config of an experiment (or of one category of it) rendered in ``fmt``; written to ``out`` if given.

    ``experiment`` and ``out`` may be local paths or storage URIs (see ``glass_tune.experiment.view.open_category``).
    """
    from glass_tune.experiment.best_config import exported_record
    from glass_tune.experiment.storage import resolve
    from glass_tune.experiment.view import open_category

    if fmt not in RENDERERS:
        raise UserError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    record = exported_record(open_category(experiment, category=category))
    text = render(record["config"], record["provenance"], fmt)
    if out is not None:
        resolve(str(out)).write_text(text)
    return text
