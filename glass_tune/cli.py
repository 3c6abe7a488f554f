"""The ``glass-tune`` command line: one small command function per verb over the library.

User mistakes (``UserError``) end as one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from glass_tune import __version__
from glass_tune.config import GlassConfig, load_config
from glass_tune.errors import UserError

# Heavy imports (torch, ray) happen inside the command functions so `--help` and errors stay fast.


def config_from_args(args: argparse.Namespace) -> GlassConfig:
    """Config file, then the dedicated flags, then ``--set`` overrides (last wins)."""
    extra = {
        "data_root": getattr(args, "data", None),
        "category": getattr(args, "category", None),
        "epochs": getattr(args, "epochs", None),
        "device": getattr(args, "device", None),
        "seed": getattr(args, "seed", None),
    }
    return load_config(args.config, overrides=args.set or (), extra=extra)


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="ROOT", help="dataset root in MVTec AD layout (default: built-in synthetic data)")
    p.add_argument("--category", metavar="C", help="category folder under ROOT (default: the first one)")
    p.add_argument("--config", metavar="FILE", help="YAML config (e.g. an exported best config)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (value parsed as YAML); repeatable")
    p.add_argument("--epochs", type=int, metavar="N", help="number of epochs")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), help="device (default: auto)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed")


def _prepare_out_dir(out: Path, *, overwrite: bool, resume: bool) -> None:
    """Refuse to mix a new run into an old one unless asked; nothing is deleted before inputs validate."""
    if resume:
        if not (out / "checkpoints" / "last.pt").is_file():
            raise UserError(f"{out}: nothing to resume (no checkpoints/last.pt)")
        return
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise UserError(f"{out}: output folder is not empty (pass --overwrite to replace it, or --resume)")
        shutil.rmtree(out)


def cmd_train(args: argparse.Namespace) -> int:
    from glass_tune.console import ConsoleCallback, format_metrics
    from glass_tune.data import scan_category
    from glass_tune.run_data import resolve_run_config
    from glass_tune.tensorboard_log import TensorBoardCallback
    from glass_tune.training import fit

    config = resolve_run_config(config_from_args(args))
    scan_category(Path(config.data_root), config.category)  # data errors before any output is touched
    out = Path(args.out or f"runs/train-{config.category}-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    _prepare_out_dir(out, overwrite=args.overwrite, resume=args.resume)
    resume = out / "checkpoints" / "last.pt" if args.resume else None
    print(f"glass-tune train: {config.category} from {config.data_root} -> {out}", flush=True)
    result = fit(
        config,
        out_dir=out,
        callbacks=[ConsoleCallback(), TensorBoardCallback(out / "tensorboard")],
        resume=resume,
        progress=sys.stderr.isatty(),
    )
    best = result.best
    print(f"best epoch {best.get('epoch')}: {format_metrics(best)}")
    if result.test is not None:
        print(f"held-out test at that epoch: {format_metrics(result.test)}")
    print(f"outputs: {out}  (tensorboard --logdir {out / 'tensorboard'})")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from glass_tune.predict import predict_images

    results = predict_images(args.checkpoint, args.images, out_dir=args.out, device=args.device)
    for r in results:
        print(f"{r.score:.6f}  {r.path}")
    print(f"heat maps and scores.csv written to {Path(args.out).resolve()}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from glass_tune.data import generate_synthetic

    root = generate_synthetic(Path(args.out), categories=args.categories, seed=args.seed, size=args.size)
    print(f"synthetic dataset written to {root}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glass-tune", description="Train and tune GLASS anomaly detection.")
    parser.add_argument("--version", action="version", version=f"glass-tune {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train GLASS once and keep the best epoch")
    _add_config_flags(p)
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/train-<category>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="score images with a trained checkpoint")
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="a checkpoint file or a train output folder")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("synth", help="write the built-in synthetic dataset (MVTec AD layout)")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--categories", nargs="+", metavar="C")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=128, metavar="PX")
    p.set_defaults(func=cmd_synth)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"glass-tune {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"glass-tune {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
