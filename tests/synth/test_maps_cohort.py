"""Maps-only simulated cohort: balanced, deterministic, readable by the synthetic layout, available on the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardiolens.cli.app import main
from cardiolens.data.labels import MAP_LABELS, SCAR_PATTERNS
from cardiolens.errors import UsageError
from cardiolens.io.layouts import detect_layout, scan, synthetic
from cardiolens.synth.maps_cohort import (
    pattern_for,
    simulate_maps_subject,
    write_maps_cohort,
)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return write_maps_cohort(tmp_path_factory.mktemp("maps") / "cohort", n=8, seed=5)


def test_layout_scan_and_load_maps(cohort):
    assert detect_layout(cohort) == "synthetic"
    assert "SIMULATED" in (cohort / "SIMULATED_DATA.txt").read_text()
    scanned = scan(cohort)
    assert scanned.simulated and scanned.bad_cases == []
    assert scanned.subject_ids == [f"SIM{i:04d}" for i in range(1, 9)]
    assert scanned.class_counts() == {p: 2 for p in SCAR_PATTERNS}  # label = scar_pattern without a cine group
    table = pd.read_csv(cohort / "manifest.csv")
    required = {"subject_id", "simulated", "scar_pattern", "field_strength_t", "artefact", "abnormal_fraction"}
    assert required <= set(table.columns) and table.simulated.all()
    for record in scanned.records:
        maps = synthetic.load_maps(record)
        assert set(maps) == {"os_dsi", "t1", "t2"}
        t1 = maps["t1"]
        assert t1.image.shape == (1, 96, 96) and t1.unit == "ms" and maps["os_dsi"].unit == "%"
        assert t1.metadata["pattern"] == record.label == record.attributes["scar_pattern"]
        assert t1.metadata["field_strength_t"] == record.attributes["field_strength_t"]
        abnormal = int(np.count_nonzero(t1.labels == MAP_LABELS["abnormal_myocardium"]))
        assert abnormal == t1.metadata["truth"]["abnormal_voxels"]
        assert (abnormal == 0) == (record.label == "healthy")
        myocardium = np.isin(t1.labels, [MAP_LABELS["normal_myocardium"], MAP_LABELS["abnormal_myocardium"]])
        assert record.attributes["abnormal_fraction"] == pytest.approx(abnormal / myocardium.sum(), abs=1e-4)


def test_every_block_of_four_holds_each_pattern_once():
    for seed in (0, 1):
        patterns = [pattern_for(i, seed) for i in range(40)]
        for start in range(0, 40, 4):
            assert sorted(patterns[start : start + 4]) == sorted(SCAR_PATTERNS)
    orders = {tuple(pattern_for(i, 0) for i in range(b * 4, b * 4 + 4)) for b in range(10)}
    assert len(orders) > 1  # the order within a block is random, not fixed


def test_same_seed_identical_files_and_subjects_independent_of_n(cohort, tmp_path):
    again = write_maps_cohort(tmp_path / "again", n=8, seed=5)
    files = sorted(p.relative_to(cohort) for p in cohort.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (cohort / rel).read_bytes() == (again / rel).read_bytes(), rel
    later = write_maps_cohort(tmp_path / "later", n=2, seed=5, first_index=6)
    assert sorted(p.name for p in later.iterdir() if p.is_dir()) == ["SIM0007", "SIM0008"]
    assert (later / "SIM0007" / "t2.nii.gz").read_bytes() == (cohort / "SIM0007" / "t2.nii.gz").read_bytes()
    other = simulate_maps_subject(0, seed=6)[1]["os_dsi"].image
    assert not np.array_equal(other, synthetic.load_maps(scan(cohort).records[0])["os_dsi"].image)


def test_options_sidecar_and_bad_arguments(tmp_path):
    root = write_maps_cohort(tmp_path / "c", n=1, seed=0, matrix=64, n_slices=3)
    side = json.loads((root / "SIM0001" / "subject.json").read_text())
    assert side["simulated"] is True and set(side["maps"]) == {"os_dsi", "t1", "t2"}
    maps = synthetic.load_maps(scan(root).records[0])
    assert maps["t2"].image.shape == (3, 64, 64)
    with pytest.raises(UsageError):
        write_maps_cohort(tmp_path / "none", n=0)
    assert not (tmp_path / "none").exists()


def test_failed_write_leaves_no_folder(tmp_path, monkeypatch):
    import cardiolens.synth.maps_cohort as module

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(module, "write_sidecar", fail)
    with pytest.raises(OSError):
        write_maps_cohort(tmp_path / "c", n=2)
    assert list(tmp_path.iterdir()) == []


def test_cli_kind_maps(tmp_path):
    assert main(["data", "synth", "--kind", "maps", "--n", "4", "--seed", "1", "--out", str(tmp_path / "m")]) == 0
    table = pd.read_csv(tmp_path / "m" / "manifest.csv")
    assert sorted(table.scar_pattern) == sorted(SCAR_PATTERNS)
    assert main(["data", "synth", "--kind", "mapz", "--n", "1", "--out", str(tmp_path / "x")]) == 2
