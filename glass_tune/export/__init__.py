"""Outputs that leave glass-tune, rendered from what ``glass_tune.experiment`` reads.

Offers ``config_formats.export_experiment`` (the exported config as yaml, json, an anomalib config or
the official command line: ``config_formats.FORMATS``) and ``onnx_model.export_onnx`` (the selected
model as ONNX).
"""
