"""Measuring studies given as paths (the API behind `cardiolens measure ...`)."""

import json

import numpy as np
import pandas as pd
import pytest

from cardiolens.cli.app import main
from cardiolens.io.layouts import synthetic
from cardiolens.io.nifti import write_nifti
from cardiolens.measure.studies import (
    measure_cine_studies,
    measure_ecg_studies,
    measure_lge_studies,
    scalar_columns,
)
from cardiolens.synth.cohort import simulate_cohort


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    studies, manifest = simulate_cohort(3, seed=5)
    root = synthetic.write_cohort(studies, manifest, tmp_path_factory.mktemp("m") / "cohort")
    return root, manifest


def test_cine_batch_on_a_dataset_matches_truth(cohort_dir):
    root, manifest = cohort_dir
    rows = measure_cine_studies([root])
    assert [r["subject_id"] for r in rows] == list(manifest.subject_id)
    for row, truth in zip(rows, manifest.itertuples(), strict=True):
        assert row["lv_ef_pct"] == pytest.approx(truth.lv_ef_pct, abs=0.01)
        assert row["lv_mass_g"] == pytest.approx(truth.lv_mass_g, abs=0.01)
        assert row["ivpg_source"] == "all_frames" and abs(row["ivpg"]["peak_systolic_mmhg"]) < 10


def test_single_cine_file_needs_and_uses_its_masks(cohort_dir, tmp_path, capsys):
    root, manifest = cohort_dir
    sid = manifest.subject_id[0]
    cine_file = root / sid / "cine.nii.gz"
    assert main(["measure", "cine", str(cine_file), "--rr-ms", "900"]) == 2
    assert "--seg" in capsys.readouterr().err
    assert main(["measure", "cine", str(cine_file), "--seg", str(root / sid / "cine_seg.nii.gz"), "--rr-ms", "900"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["lv_ef_pct"] == pytest.approx(manifest.lv_ef_pct[0], abs=0.01)
    bad_seg = write_nifti(tmp_path / "bad_seg.nii.gz", np.zeros((2, 3, 4), np.uint8), (1, 1, 1))
    rows = measure_cine_studies([cine_file], seg=bad_seg)
    assert "bad_seg.nii.gz" in rows[0]["error"]


def test_lge_labels_reproduce_truth_and_threshold_runs(cohort_dir):
    root, manifest = cohort_dir
    by_labels = measure_lge_studies([root], method="labels")
    for row, truth in zip(by_labels, manifest.itertuples(), strict=True):
        assert row["pct_lge"] == pytest.approx(truth.pct_lge, abs=0.01)
    by_threshold = measure_lge_studies([root], method="nsd", n_sd=2)
    assert all(0 <= r["pct_lge"] <= 100 and r["method"] == "nsd" for r in by_threshold)


def test_lge_case_folder_measures_its_own_labels_like_the_dataset_row(shared_data, tmp_path):
    cases = ["Case_N037", "Case_P005"]
    dataset = tmp_path / "emidec"
    dataset.mkdir()
    for case in cases:
        (dataset / case).symlink_to(shared_data / "emidec" / case)
    from_dataset = {r["subject_id"]: r for r in measure_lge_studies([dataset], method="labels")}
    single = measure_lge_studies([shared_data / "emidec" / "Case_P005"], method="labels")[0]
    assert "error" not in single and single["pct_lge"] > 0
    assert single["pct_lge"] == pytest.approx(from_dataset["Case_P005"]["pct_lge"])
    assert from_dataset["Case_N037"]["pct_lge"] == 0


def test_lge_study_without_labels_or_seg_is_a_bad_case_naming_it(tmp_path):
    image = write_nifti(tmp_path / "stack.nii.gz", np.ones((3, 8, 8), np.float32), (8.0, 1.5, 1.5))
    row = measure_lge_studies([image])[0]
    assert "stack.nii.gz" in row["error"] and "--seg" in row["error"]


def test_ecg_batch_reports_bad_record_and_continues(cohort_dir, tmp_path, capsys):
    root, manifest = cohort_dir
    rows = measure_ecg_studies([root])
    assert len(rows) == 3 and all(isinstance(r["sokolow_lyon_mv"], float) for r in rows)
    assert {r["sex"] for r in rows} <= {"M", "F"}
    empty = tmp_path / "empty.hea"
    empty.write_bytes(b"")
    good = root / manifest.subject_id[0] / "ecg.hea"
    out = tmp_path / "ecg.csv"
    assert main(["measure", "ecg", str(empty), str(good), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.subject_id) == ["empty.hea", "ecg.hea"]
    assert "empty" in table.error[0] and pd.isna(table.error[1])
    assert "bad case empty.hea" in capsys.readouterr().err


def test_scalar_columns_flattens_nested_values():
    rows = [{"a": 1, "ivpg": {"peak": 2.0, "curve": [1, 2]}, "s": "x"}]
    assert scalar_columns(rows) == [{"a": 1, "ivpg.peak": 2.0, "s": "x"}]


@pytest.mark.real_data
def test_measure_cine_real_acdc_reports_voxels_when_spacing_unknown(shared_data, tmp_path):
    out = tmp_path / "acdc.json"
    assert main(["measure", "cine", f"acdc:{shared_data / 'acdc'}", "--out", str(out), "--no-ivpg"]) == 0
    rows = json.loads(out.read_text())
    assert len(rows) == 60 and not any("error" in r for r in rows)
    unknown = [r for r in rows if not r["spacing_known"]]
    assert len(unknown) == 33
    assert all(r["lv_edv_ml"] is None and r["lv_edv_voxels"] > 0 and 0 < r["lv_ef_pct"] < 100 for r in unknown)
