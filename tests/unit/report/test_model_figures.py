"""The report scores the best trial's model exactly as its run did (same images, size and mask protocol),
and never runs a checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glass_tune.config.schema import from_mapping
from glass_tune.experiment.storage import resolve
from glass_tune.report.model_figures import evaluate_checkpoint
from glass_tune.training.loop import fit, held_out_decisions
from glass_tune.training.run_inputs import evaluation_dataset, run_samples
from glass_tune.util.errors import UserError
from tests.helpers import TINY
from tests.helpers.checkpoint_files import write_bomb
from tests.helpers.data_layouts import make_mvtec


def test_report_curves_of_an_mvtec_category_are_those_metrics_json_recorded(tmp_path) -> None:
    root = make_mvtec(tmp_path / "data", n_good=4, defects={"crack": 4, "hole": 4})  # 80x60 images, 64x64 input
    config = from_mapping({**TINY, "data_root": str(root), "category": "widget", "val_source": "split"})
    result = fit(config, out_dir=tmp_path / "run")
    recorded = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]

    scored = evaluate_checkpoint(resolve(str(tmp_path / "run" / "checkpoints" / "best.pt")), device="cpu")

    assert result.config.mask_protocol == "mvtec" and scored.held_out
    # the numbers behind the ROC/PRO plot and the decisions at the stored thresholds, exactly
    assert {**scored.evaluation.metrics, **held_out_decisions(scored.evaluation, scored.thresholds)} == recorded
    # the protocol matters on these images: binarising the masks nearest-neighbour (as the report
    # once did) gives other ground truth, so other pixel curves
    nearest = evaluation_dataset(result.config.replace(mask_protocol="nearest"), run_samples(result.config).test)
    assert not np.array_equal(scored.evaluation.masks, np.stack([item["mask"].numpy() for item in nearest]).astype(np.uint8))


def test_a_hostile_checkpoint_is_refused_in_one_line_and_never_runs(tmp_path) -> None:
    marker = tmp_path / "marker"
    bomb = write_bomb(tmp_path / "checkpoint.pt", marker)
    with pytest.raises(UserError) as caught:
        evaluate_checkpoint(resolve(str(bomb)), device="cpu")
    assert "\n" not in str(caught.value) and str(caught.value).startswith(f"{bomb}: holds objects that are not plain data")
    assert not marker.exists()
