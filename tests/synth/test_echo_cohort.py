"""The simulated echo–CMR paired cohort: files, tables, determinism and the designed prevalences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardiolens import SIMULATED_NOTICE
from cardiolens.errors import UsageError
from cardiolens.io.layouts import detect_layout
from cardiolens.io.video import read_video
from cardiolens.synth.echo_cohort import (
    ECV_CUTOFF_PCT,
    NATIVE_T1_CUTOFF_MS,
    T2_CUTOFF_MS,
    simulate_subject_rows,
    write_paired_echo_cohort,
)
from cardiolens.systems.echo2cmr.config import Echo2CmrConfig
from cardiolens.systems.echo2cmr.pairing import (
    label_cutoffs,
    pair_studies,
    tables_from_directory,
)

SMALL = {"n_frames": 16, "matrix": 48}


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_paired_echo_cohort(tmp_path_factory.mktemp("echo") / "cohort", n=6, seed=3, **SMALL)


def test_files_exist_and_tables_parse(small_cohort: Path) -> None:
    root = small_cohort
    assert SIMULATED_NOTICE in (root / "SIMULATED_DATA.txt").read_text()
    assert detect_layout(root) == "echo-cmr"
    cmr, echo, layout, simulated = tables_from_directory(root)
    assert (layout, simulated) == ("echo-cmr", True)
    assert cmr["subject_id"].tolist() == [f"ECH{i:05d}" for i in range(1, 7)]
    assert len(echo) >= 6 and set(echo["view"]) == {"A4C"}
    for file in echo["file"]:
        assert file.is_file() and file.parent.name == "videos"
        assert file.name.startswith(tuple(cmr["subject_id"]))
    video = read_video(echo["file"].iloc[0])
    assert video.frames.shape == (16, 48, 48) and video.fps == pytest.approx(50.0)
    truth = pd.read_csv(root / "truth.csv", dtype={"subject_id": str})
    assert list(truth.columns) == ["subject_id", "phenotype", "wma_segment", "ef_pct"]
    assert truth["subject_id"].tolist() == cmr["subject_id"].tolist()
    # A WMA subject's first video carries a WMA segment; a subject without has none.
    for wma, segment in zip(cmr["wma"], truth["wma_segment"]):
        assert (wma == 1.0) == isinstance(segment, str)
    assert pair_studies(cmr, echo, 30).stats["n_cmr_studies"] == 6
    assert not list(root.parent.glob(".cohort.*"))  # no temporary folder left behind


def test_rows_match_the_row_drawing_function(small_cohort: Path) -> None:
    cmr = pd.read_csv(small_cohort / "cmr.csv", dtype=str, keep_default_na=False)
    echo = pd.read_csv(small_cohort / "echo.csv", dtype=str, keep_default_na=False)
    for index in range(6):
        subject = simulate_subject_rows(index, seed=3)
        row = cmr.iloc[index].to_dict()
        assert row["subject_id"] == subject.subject_id
        assert row["cmr_date"] == ("" if subject.cmr_date is None else subject.cmr_date.isoformat())
        assert float(row["native_t1_ms"]) == subject.native_t1_ms
        mine = echo[echo["subject_id"] == subject.subject_id]
        assert mine.to_dict(orient="records") == [{k: str(v) for k, v in r.items()} for r in subject.echo_rows()]


def test_same_seed_same_tables(small_cohort: Path, tmp_path: Path) -> None:
    again = write_paired_echo_cohort(tmp_path / "again", n=6, seed=3, **SMALL)
    for name in ("cmr.csv", "echo.csv", "truth.csv"):
        assert (again / name).read_bytes() == (small_cohort / name).read_bytes()
    first_video = min((small_cohort / "videos").iterdir())
    np.testing.assert_array_equal(read_video(first_video).frames, read_video(again / "videos" / first_video.name).frames)
    other = write_paired_echo_cohort(tmp_path / "other", n=6, seed=4, **SMALL)
    assert (other / "cmr.csv").read_bytes() != (small_cohort / "cmr.csv").read_bytes()


def test_first_index_gives_new_subjects(small_cohort: Path, tmp_path: Path) -> None:
    later = write_paired_echo_cohort(tmp_path / "later", n=2, seed=3, first_index=6, **SMALL)
    ids = pd.read_csv(later / "cmr.csv", dtype=str)["subject_id"].tolist()
    assert ids == ["ECH00007", "ECH00008"]
    assert not set(ids) & set(pd.read_csv(small_cohort / "cmr.csv", dtype=str)["subject_id"])
    # A subject is the same whatever cohort it was written in.
    overlap = write_paired_echo_cohort(tmp_path / "overlap", n=2, seed=3, first_index=4, **SMALL)
    full = pd.read_csv(small_cohort / "cmr.csv", dtype=str)
    pd.testing.assert_frame_equal(pd.read_csv(overlap / "cmr.csv", dtype=str), full.iloc[4:6].reset_index(drop=True))


def test_bad_arguments_leave_no_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        write_paired_echo_cohort(tmp_path / "none", n=0)
    with pytest.raises(UsageError, match="matrix"):
        write_paired_echo_cohort(tmp_path / "tiny", n=2, n_frames=8, matrix=8)
    assert list(tmp_path.iterdir()) == []


def test_cutoffs_match_the_config_defaults() -> None:
    assert label_cutoffs(Echo2CmrConfig()) == pytest.approx(
        {"t1": NATIVE_T1_CUTOFF_MS, "t2": T2_CUTOFF_MS, "ecv": ECV_CUTOFF_PCT}
    )


def test_prevalences_follow_the_design() -> None:
    subjects = [simulate_subject_rows(i, seed=0) for i in range(300)]
    phenotype = pd.Series([s.phenotype for s in subjects]).value_counts(normalize=True)
    assert phenotype["normal"] == pytest.approx(0.45, abs=0.08)
    assert phenotype["ischaemic"] == pytest.approx(0.35, abs=0.08)
    assert phenotype["non_ischaemic"] == pytest.approx(0.20, abs=0.07)
    tissue = pd.DataFrame([s.tissue_abnormal() for s in subjects]).astype(float)
    wma = np.array([s.wma for s in subjects], dtype=float)
    # Expected from the design: WMA 0.334, LGE 0.424, T1 0.297, T2 0.096, ECV 0.225.
    assert wma.mean() == pytest.approx(0.334, abs=0.08)
    assert tissue["lge"].mean() == pytest.approx(0.424, abs=0.08)
    assert tissue["t1"].mean() == pytest.approx(0.297, abs=0.08)
    assert tissue["t2"].mean() == pytest.approx(0.096, abs=0.05)
    assert tissue["ecv"].mean() == pytest.approx(0.225, abs=0.07)
    # Tissue labels go with WMA through the phenotype (the positive-control design).
    assert tissue["lge"][wma == 1].mean() > tissue["lge"][wma == 0].mean() + 0.3
    t1 = np.array([s.native_t1_ms for s in subjects])
    normal_t1 = t1[[s.phenotype == "normal" and not s.lge_present for s in subjects]]
    assert normal_t1.mean() == pytest.approx(950.0, abs=6.0) and normal_t1.std() == pytest.approx(21.0, abs=5.0)

    n_studies = np.array([len(s.studies) for s in subjects])
    assert (n_studies == 2).mean() == pytest.approx(0.30, abs=0.08)
    first = np.array([abs(s.studies[0].offset_days) for s in subjects])
    assert (first <= 25).mean() == pytest.approx(0.85, abs=0.06)
    assert first[first > 25].min() >= 31 and first.max() <= 120
    second = [s.studies[1] for s in subjects if len(s.studies) == 2]
    assert all(abs(s.offset_days) <= 200 for s in second)
    assert all(a.offset_days != b.offset_days for a, b in (s.studies for s in subjects if len(s.studies) == 2))
    files_per_study = np.array([st.n_files for s in subjects for st in s.studies])
    assert set(files_per_study) == {1, 2} and (files_per_study == 2).mean() == pytest.approx(0.10, abs=0.05)
    cmr_missing = np.mean([s.cmr_date is None for s in subjects])
    echo_missing = np.mean([st.echo_date is None for s in subjects for st in s.studies])
    assert cmr_missing <= 0.04 and echo_missing <= 0.06
