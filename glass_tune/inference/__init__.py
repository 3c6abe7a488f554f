"""Scoring new images with a trained run: a checkpoint (torch) or an exported ONNX model.

Offers ``model_source.load_trained_model`` (which checkpoint an argument names), ``scorer`` and
``onnx_scorer`` (images -> scores and maps), ``predict.predict_images`` / ``predict.write_predictions``
(thresholds, scores.csv) and ``heatmaps`` (overlays, masks).
"""
