"""Echo–CMR table layout (cmr.csv + echo.csv) and reading any echo file (video or DICOM)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cardiolens.data.echo import EchoClip
from cardiolens.errors import (
    CorruptFileError,
    EmptyFileError,
    MalformedTableError,
    MissingDataError,
    UnreadableVideoError,
)
from cardiolens.io.dicom_echo import write_dicom_echo
from cardiolens.io.echo_files import is_dicom_file, read_echo_file
from cardiolens.io.layouts import LAYOUT_MODULES, detect_layout, echo_cmr, load, scan
from cardiolens.io.video import write_video


def clip(seed: int, n_frames: int = 5, fps: float = 30.0, view: str = "A4C") -> EchoClip:
    frames = np.random.default_rng(seed).integers(0, 256, (n_frames, 20, 24), dtype=np.uint8)
    return EchoClip(frames=frames, fps=fps, view=view, subject_id=f"E{seed}")


def make_dataset(root: Path) -> Path:
    """Subjects 001 (AVI + DICOM on one date), 002 (one AVI, one missing file), 003 (no echo)."""
    (root / "videos").mkdir(parents=True)
    write_video(clip(1), root / "videos" / "001_a.avi")
    write_dicom_echo(clip(2, view="A2C"), root / "videos" / "001_b")  # DICOM without a suffix
    write_video(clip(3, n_frames=7), root / "videos" / "002.avi")
    (root / "cmr.csv").write_text(
        "subject_id,cmr_date,wma,lge\n001,2020-01-01,1,1\n001,2021-01-01,1,0\n002,2020-05-05,0,0\n003,2020-07-07,0,\n"
    )
    (root / "echo.csv").write_text(
        "subject_id,echo_date,file,view\n"
        "001,2020-01-03,videos/001_a.avi,a4c\n"
        "001,2020-01-03,videos/001_b,\n"
        "002,2020-05-01,videos/002.avi,A4C\n"
        "002,2020-05-01,videos/missing.avi,A4C\n"
        "999,2020-05-01,videos/002.avi,A4C\n"
    )
    return root


def test_registered_before_echonet() -> None:
    names = list(LAYOUT_MODULES)
    assert names.index("echo-cmr") < names.index("echonet")


def test_looks_like_needs_both_tables(tmp_path: Path) -> None:
    assert not echo_cmr.looks_like(tmp_path)
    (tmp_path / "cmr.csv").write_text("subject_id,cmr_date,wma\n")
    assert not echo_cmr.looks_like(tmp_path)
    (tmp_path / "echo.csv").write_text("subject_id,echo_date,file\n")
    assert echo_cmr.looks_like(tmp_path)
    assert detect_layout(tmp_path) == "echo-cmr"


def test_other_layouts_are_detected_as_before(tmp_path: Path) -> None:
    synthetic = tmp_path / "synthetic"
    synthetic.mkdir()
    (synthetic / "SIMULATED_DATA.txt").write_text("simulated\n")
    (synthetic / "manifest.csv").write_text("subject_id,cine_group\n")
    assert detect_layout(synthetic) == "synthetic"
    echonet = tmp_path / "echonet"
    (echonet / "Videos").mkdir(parents=True)
    (echonet / "FileList.csv").write_text("FileName,EF,ESV,EDV,FPS,NumberOfFrames,Split\n")
    assert detect_layout(echonet) == "echonet"
    # The simulated paired cohort (notice + tables, no manifest) is echo-cmr, not synthetic.
    paired = tmp_path / "paired"
    paired.mkdir()
    for name in ("SIMULATED_DATA.txt", "cmr.csv", "echo.csv"):
        (paired / name).write_text("x\n")
    assert detect_layout(paired) == "echo-cmr"


def test_scan_lists_files_and_bad_cases(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "data")
    cohort = scan(root)
    assert cohort.layout == "echo-cmr" and not cohort.simulated
    assert cohort.subject_ids == ["001", "002", "003"]
    first = cohort["001"]
    assert first.paths == {"echo_0": root / "videos" / "001_a.avi", "echo_1": root / "videos" / "001_b"}
    assert first.attributes == {"n_cmr_studies": 2, "n_echo_files": 2, "views": ["A4C", "UNKNOWN"]}
    assert cohort["002"].attributes["n_echo_files"] == 1
    assert cohort["003"].paths == {} and cohort["003"].attributes["n_echo_files"] == 0
    bad = {(b.subject_id, Path(b.path).name): b.problem for b in cohort.bad_cases}
    assert bad[("002", "missing.avi")] == "file does not exist"
    assert "not in cmr.csv" in bad[("999", "002.avi")]
    assert len(bad) == 2


def test_empty_video_is_a_bad_case_and_notice_marks_simulated(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "data")
    (root / "videos" / "002.avi").write_bytes(b"")
    (root / "SIMULATED_DATA.txt").write_text("simulated\n")
    cohort = scan(f"echo-cmr:{root}")
    assert cohort.simulated
    assert cohort["002"].paths == {}
    problems = [b.problem for b in cohort.bad_cases if b.subject_id == "002"]
    assert "file is empty (0 bytes)" in problems


def test_load_decodes_every_file_with_its_view(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "data")
    cohort = scan(root)
    clips = load(cohort, "001")
    assert set(clips) == {"echo_0", "echo_1"}
    np.testing.assert_array_equal(clips["echo_0"].frames, clip(1).frames)
    assert clips["echo_0"].view == "A4C"
    assert clips["echo_1"].view == "A2C"  # "UNKNOWN" in the table: taken from the DICOM
    assert clips["echo_1"].fps == pytest.approx(30.0)
    assert all(c.subject_id == "001" for c in clips.values())
    assert load(cohort, "003") == {}


def test_load_names_an_undecodable_file(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "data")
    (root / "videos" / "002.avi").write_bytes(b"not a video at all" * 20)
    cohort = scan(root)
    with pytest.raises(UnreadableVideoError) as info:
        load(cohort, "002")
    assert info.value.path.endswith("002.avi")


def test_scan_refuses_a_malformed_table(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "data")
    (root / "cmr.csv").write_text("subject_id,cmr_date,wma\n001,yesterday,1\n")
    with pytest.raises(MalformedTableError) as info:
        scan(root)
    assert info.value.path == str(root / "cmr.csv") and "line 2" in info.value.problem


# --- read_echo_file ------------------------------------------------------------------------


def test_read_echo_file_video_and_dicom(tmp_path: Path) -> None:
    avi = write_video(clip(4, fps=25.0), tmp_path / "a.avi")
    got = read_echo_file(avi, view="PLAX")
    np.testing.assert_array_equal(got.frames, clip(4).frames)
    assert got.fps == pytest.approx(25.0) and got.view == "PLAX"
    assert read_echo_file(avi).view == "unknown"

    dcm = write_dicom_echo(clip(5, view="A2C"), tmp_path / "b.dcm")
    bare = write_dicom_echo(clip(6, view="A4C"), tmp_path / "EXPORT0001")
    assert is_dicom_file(dcm) and is_dicom_file(bare) and not is_dicom_file(avi)
    from_dcm, from_bare = read_echo_file(dcm), read_echo_file(bare, view="A3C")
    np.testing.assert_array_equal(from_dcm.frames, clip(5).frames)
    assert from_dcm.view == "A2C"
    np.testing.assert_array_equal(from_bare.frames, clip(6).frames)
    assert from_bare.view == "A3C"


def test_read_echo_file_errors_name_the_file(tmp_path: Path) -> None:
    dcm = write_dicom_echo(clip(7), tmp_path / "cut.dcm")
    data = dcm.read_bytes()
    dcm.write_bytes(data[: len(data) // 2])  # truncated pixel data
    with pytest.raises(CorruptFileError) as info:
        read_echo_file(dcm)
    assert info.value.path == str(dcm)

    junk = tmp_path / "junk.avi"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(UnreadableVideoError) as video_info:
        read_echo_file(junk)
    assert video_info.value.path == str(junk)

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="empty.mp4"):
        read_echo_file(empty)
    with pytest.raises(MissingDataError, match="nowhere.avi"):
        read_echo_file(tmp_path / "nowhere.avi")
