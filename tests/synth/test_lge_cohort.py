"""LGE-only simulated HCM cohort: balanced, deterministic, 0-40 % LGE truth, readable by the synthetic layout and the CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cardiolens.cli.app import app
from cardiolens.data.labels import LGE_BURDEN_CUTOFF_PCT, LGE_LABELS
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import UsageError
from cardiolens.io.layouts import detect_layout, scan, synthetic
from cardiolens.measure.lge import measure_lge
from cardiolens.synth.lge_cohort import (
    BLOCK,
    simulate_lge_subject,
    slot_for,
    write_lge_cohort,
)

SMALL = {"matrix": 48, "n_slices": 6}
COLUMNS = [
    "subject_id", "simulated", "lge_pattern", "target_pct_lge", "pct_lge", "burden_over_15pct", "scar_voxels",
    "mvo_voxels", "myocardium_voxels", "scar_volume_ml", "myocardium_volume_ml", "n_slices",
    "spacing_in_plane_mm", "slice_thickness_mm",
]  # fmt: skip


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return write_lge_cohort(tmp_path_factory.mktemp("lge") / "cohort", n=10, seed=3, **SMALL)


@pytest.fixture(scope="module")
def manifest(cohort) -> pd.DataFrame:
    return pd.read_csv(cohort / "manifest.csv")


def test_manifest_columns_and_known_truth(manifest):
    assert list(manifest.columns) == COLUMNS
    assert manifest.simulated.all() and list(manifest.subject_id) == [f"SIM{i:04d}" for i in range(1, 11)]
    assert Counter(manifest.lge_pattern) == {"midwall": 4, "patchy": 4, "none": 2}
    exact_pct = 100.0 * manifest.scar_voxels / manifest.myocardium_voxels
    assert np.allclose(manifest.pct_lge, exact_pct, atol=1e-4)
    assert (manifest.burden_over_15pct == (exact_pct >= LGE_BURDEN_CUTOFF_PCT)).all()
    assert manifest.pct_lge.between(0.0, 40.0).all()
    scarred = manifest[manifest.lge_pattern != "none"]
    assert (scarred.pct_lge > 0).all() and scarred.burden_over_15pct.any() and (~scarred.burden_over_15pct).any()
    free = manifest[manifest.lge_pattern == "none"]
    assert (free.pct_lge == 0).all() and (free.scar_voxels == 0).all() and not free.burden_over_15pct.any()
    assert (manifest.mvo_voxels == 0).all()  # HCM-type scar carries no microvascular obstruction
    # patchy scar always has room: the realised burden is the target to within one voxel
    patchy = manifest[manifest.lge_pattern == "patchy"]
    assert (abs(patchy.pct_lge - patchy.target_pct_lge) <= 100.0 / patchy.myocardium_voxels + 1e-3).all()
    voxel_ml = manifest.scar_volume_ml / manifest.scar_voxels.where(manifest.scar_voxels > 0)
    assert np.allclose(voxel_ml.dropna(), (manifest.spacing_in_plane_mm**2 * manifest.slice_thickness_mm / 1000)[voxel_ml.notna()], rtol=1e-3)
    assert (manifest.n_slices == 6).all() and manifest.slice_thickness_mm.between(8.0, 10.0).all()


def test_blocks_balance_patterns_and_burden_strata():
    for seed in (0, 1):
        slots = [slot_for(i, seed) for i in range(50)]
        for start in range(0, 50, 5):
            assert sorted(slots[start : start + 5]) == sorted(BLOCK)
    orders = {tuple(slot_for(i, 0) for i in range(b * 5, b * 5 + 5)) for b in range(10)}
    assert len(orders) > 1  # the order within a block is random, not fixed
    # each stratum draws its target on its own side of the cut-off
    for index in range(10):
        row, _ = simulate_lge_subject(index, seed=0, matrix=32, n_slices=4)
        stratum = slot_for(index, 0)[1]
        assert {"low": row["target_pct_lge"] < 15, "high": row["target_pct_lge"] >= 15, "none": row["target_pct_lge"] == 0}[stratum]


def test_simulated_notice_and_sidecar(cohort):
    assert "SIMULATED" in (cohort / "SIMULATED_DATA.txt").read_text()
    side = json.loads((cohort / "SIM0001" / "subject.json").read_text())
    assert side["simulated"] is True and side["kind"] == "lge" and "SIMULATED" in side["notice"]
    meta = side["lge"]["metadata"]
    assert meta["simulated"] is True and meta["slice_order"] == "base_to_apex"
    assert sorted(p.name for p in (cohort / "SIM0001").iterdir()) == ["lge.nii.gz", "lge_seg.nii.gz", "subject.json"]


def test_subjects_identical_whatever_n_and_first_index(cohort, tmp_path):
    later = write_lge_cohort(tmp_path / "later", n=2, seed=3, first_index=7, **SMALL)
    assert sorted(p.name for p in later.iterdir() if p.is_dir()) == ["SIM0008", "SIM0009"]
    for sid in ("SIM0008", "SIM0009"):
        for name in ("lge.nii.gz", "lge_seg.nii.gz", "subject.json"):
            assert (later / sid / name).read_bytes() == (cohort / sid / name).read_bytes(), (sid, name)
    rows = pd.read_csv(later / "manifest.csv")
    assert rows.to_dict("records") == pd.read_csv(cohort / "manifest.csv").iloc[7:9].to_dict("records")
    _, other = simulate_lge_subject(7, seed=4, **SMALL)
    _, same = simulate_lge_subject(7, seed=3, **SMALL)
    assert not np.array_equal(other.image, same.image)


def test_scan_load_round_trip(cohort, manifest):
    assert detect_layout(cohort) == "synthetic"
    scanned = scan(cohort)
    assert scanned.simulated and scanned.bad_cases == []
    assert [r.label for r in scanned.records] == list(manifest.lge_pattern)  # label = lge_pattern
    for record in scanned.records[:5]:
        index = int(record.subject_id[3:]) - 1
        _, truth = simulate_lge_subject(index, seed=3, **SMALL)
        volume = synthetic.load(record)
        assert isinstance(volume, CMRVolume) and volume.modality == "lge" and volume.label_scheme == "lge"
        assert volume.subject_id == record.subject_id and volume.image.shape == (6, 48, 48)
        assert np.array_equal(volume.labels, truth.labels)
        assert np.allclose(volume.spacing_mm, truth.spacing_mm, rtol=1e-6)
        assert np.allclose(volume.affine, truth.affine, atol=1e-4)
        assert np.allclose(volume.image, truth.image.astype(np.float32))
        assert volume.metadata["pattern"] == record.label == record.attributes["lge_pattern"]
        assert set(np.unique(volume.labels)) <= set(LGE_LABELS.values())


def test_measure_lge_labels_reproduces_manifest(cohort, manifest):
    by_id = manifest.set_index("subject_id")
    for record in scan(cohort).records:
        volume = synthetic.load(record)
        measured = measure_lge(volume, method="labels", clockwise=False)
        row = by_id.loc[record.subject_id]
        assert round(measured.pct_lge, 4) == row.pct_lge
        assert measured.burden_over_15pct == bool(row.burden_over_15pct)
        assert (measured.scar_voxels, measured.myocardium_voxels) == (row.scar_voxels, row.myocardium_voxels)
        assert measured.scar_volume_ml == pytest.approx(row.scar_volume_ml, abs=1e-3)
        segment_pct = [v for v in measured.segment_pct_lge.values() if v is not None]
        assert (max(segment_pct) > 0) == (record.label != "none")


def test_bad_arguments_and_failed_write_leave_no_folder(tmp_path, monkeypatch):
    with pytest.raises(UsageError):
        write_lge_cohort(tmp_path / "none", n=0)
    with pytest.raises(UsageError):
        simulate_lge_subject(-1)
    import cardiolens.synth.lge_cohort as module

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(module, "write_sidecar", fail)
    with pytest.raises(OSError):
        write_lge_cohort(tmp_path / "c", n=2, **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_cli_synth_kind_lge(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["data", "synth", "--kind", "lge", "--n", "5", "--seed", "1", "--out", str(tmp_path / "l")])
    assert result.exit_code == 0, result.output
    assert "SIMULATED" in result.output
    table = pd.read_csv(tmp_path / "l" / "manifest.csv")
    assert sorted(table.lge_pattern) == sorted(p for p, _ in BLOCK)
    assert table.n_slices.eq(10).all()  # CLI default matrix 96, 10 slices
    assert scan(tmp_path / "l").class_counts() == {"midwall": 2, "patchy": 2, "none": 1}
    bad = runner.invoke(app, ["data", "synth", "--kind", "lgee", "--n", "1", "--out", str(tmp_path / "x")])
    assert isinstance(bad.exception, UsageError) and "lge" in str(bad.exception)
    assert not (tmp_path / "x").exists()
