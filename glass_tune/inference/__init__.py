"""Scoring new images with a trained run: a checkpoint (torch) or an exported ONNX model."""
