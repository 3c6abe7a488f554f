"""``glass-tune predict``: score images with a checkpoint or an exported ONNX model."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from glass_tune.cli.common import add_device_flag, add_verb, checked
from glass_tune.config.schema import float_rule
from glass_tune.util.logs import get_logger

log = get_logger(__name__)

SCORE = checked(float_rule(0.0, 1.0))  # scores and maps are sigmoid outputs: a threshold outside [0, 1] decides nothing


def cmd_predict(args: argparse.Namespace) -> int:
    from glass_tune.inference.predict import predict_images

    with contextlib.ExitStack() as stack:
        onnx = args.onnx
        if args.model:
            from glass_tune.export.registry import registered_onnx
            from glass_tune.tracking.tracker import required_uri, tracking_uri

            uri = required_uri(tracking_uri(args.mlflow))
            onnx = str(stack.enter_context(registered_onnx(args.model, uri=uri)))
        results = predict_images(
            args.images,
            out_dir=args.out,
            checkpoint=args.checkpoint,
            onnx=onnx,
            device=args.device,
            category=args.category,
            threshold=args.threshold,
            pixel_threshold=args.pixel_threshold,
        )
    for r in results:
        print(f"{r.score:.6f}  {'anomalous' if r.is_anomalous else 'normal   '}  {r.path}")
    if results:
        log.info(f"decisions at image threshold {results[0].threshold:.6f} (score >= threshold is anomalous)")
    log.info(f"heat maps, defect masks and scores.csv written to {Path(args.out).resolve()}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub,
        "predict",
        summary="score images with a trained checkpoint or an exported ONNX model",
        description="Score images with the selected epoch's model: prints one anomaly score and decision per "
        "image and writes a heat-map overlay and a binary defect mask per image plus scores.csv (score, "
        "is_anomalous, thresholds) to --out. Decisions use the thresholds the run calibrated on its "
        "validation set unless --threshold / --pixel-threshold override them. The model is a checkpoint "
        "(or a run, trial or experiment holding one), an ONNX file from `export --format onnx`, or a registered "
        "version from `tune/export --register` (--model).",
        example="glass-tune predict --checkpoint runs/tune/NAME --category marble test/*/*.png --out predictions\n"
        "glass-tune predict --onnx model.onnx test/*/*.png --out predictions\n"
        "glass-tune predict --model models:/glass-bottle@champion --mlflow http://127.0.0.1:5000 test/*/*.png --out predictions",
        func=cmd_predict,
    )
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument(
        "--checkpoint",
        metavar="CKPT",
        help="a checkpoint file, a train run, a trial or Ray checkpoint folder, or an experiment (the trial export writes); one of --checkpoint, --onnx, --model is required",
    )
    model.add_argument(
        "--onnx",
        metavar="FILE",
        help="a model written by export --format onnx, run with onnxruntime; one of --checkpoint, --onnx, --model is required",
    )
    model.add_argument(
        "--model",
        metavar="models:/NAME@ALIAS",
        help="a registered model version in the MLflow Model Registry (models:/NAME@ALIAS or models:/NAME/VERSION), "
        "its ONNX file and thresholds, run with onnxruntime; the registry is --mlflow; one of --checkpoint, --onnx, --model is required",
    )
    p.add_argument("--mlflow", metavar="URI", help="MLflow tracking/registry URI of --model (default: $MLFLOW_TRACKING_URI)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files to score")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the heat maps and scores.csv (required)")
    add_device_flag(p, default="auto", help="device of a --checkpoint model")
    p.add_argument(
        "--category", metavar="C", help="which category, when --checkpoint is an experiment with several (default: the only one)"
    )
    p.add_argument(
        "--threshold",
        type=SCORE,
        metavar="T",
        help="image score threshold: score >= T is anomalous (default: the one calibrated on validation)",
    )
    p.add_argument(
        "--pixel-threshold",
        type=SCORE,
        metavar="T",
        help="defect-mask threshold (default: the calibrated one; with --threshold alone, that value)",
    )
