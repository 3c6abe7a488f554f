"""Outputs that leave glass-tune: the best config in other formats (official flags, anomalib) and ONNX."""
