"""EchoNet-Dynamic layout on a generated mini dataset (no public echo data is shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cardiolens.data.echo import EchoClip
from cardiolens.errors import MalformedTableError
from cardiolens.io.layouts import echonet, load, scan
from cardiolens.io.video import write_video

HEADER = "FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames,Split"
ROWS = {
    # FileName written without and with ".avi": both occur in real tables.
    "0X1A": "0X1A,55.5,30.1,67.6,24,28,50,8,TRAIN",
    "0X2B": "0X2B.avi,35.0,80.0,123.1,24,28,25,6,VAL",
    "0X3C": "0X3C,62.25,20.0,53.0,24,28,30,7,TEST",
}
N_FRAMES = {"0X1A": 8, "0X2B": 6, "0X3C": 7}
FPS = {"0X1A": 50.0, "0X2B": 25.0, "0X3C": 30.0}


def video_frames(seed: int, n_frames: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n_frames, 24, 28), dtype=np.uint8)


def make_dataset(root: Path, rows: dict[str, str] = ROWS, tracings: bool = True) -> Path:
    (root / "Videos").mkdir(parents=True)
    for seed, (subject, n_frames) in enumerate(N_FRAMES.items()):
        clip = EchoClip(frames=video_frames(seed, n_frames), fps=FPS[subject])
        write_video(clip, root / "Videos" / f"{subject}.avi")
    (root / "FileList.csv").write_text("\n".join([HEADER, *rows.values()]) + "\n")
    if tracings:
        lines = ["FileName,X1,Y1,X2,Y2,Frame"]
        for subject, frame in (("0X1A", 5), ("0X1A", 1), ("0X2B", 0), ("0X2B", 4)):
            for k in range(3):
                lines.append(f"{subject}.avi,{10 + k},{2.5 + k},{12 + k},{20.5 - k},{frame}")
        (root / "VolumeTracings.csv").write_text("\n".join(lines) + "\n")
    return root


def test_looks_like(tmp_path: Path) -> None:
    assert not echonet.looks_like(tmp_path)
    (tmp_path / "FileList.csv").write_text(HEADER + "\n")
    assert not echonet.looks_like(tmp_path)  # no Videos/ yet
    (tmp_path / "Videos").mkdir()
    assert echonet.looks_like(tmp_path)


def test_scan_reads_filelist(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "echonet")
    cohort = scan(root, layout="echonet")
    assert cohort.layout == "echonet"
    assert cohort.subject_ids == ["0X1A", "0X2B", "0X3C"]
    assert cohort.bad_cases == []
    record = cohort["0X2B"]
    assert record.label is None
    assert record.paths["video"] == root / "Videos" / "0X2B.avi"
    assert record.paths["tracings"] == root / "VolumeTracings.csv"
    assert record.attributes == {
        "ef_pct": 35.0,
        "esv_ml": 80.0,
        "edv_ml": 123.1,
        "fps": 25.0,
        "n_frames": 6,
        "frame_height_px": 24,
        "frame_width_px": 28,
        "split": "VAL",
    }
    assert cohort.to_frame()["ef_pct"].tolist() == [55.5, 35.0, 62.25]


def test_load_returns_clip_with_labels_and_tracings(tmp_path: Path) -> None:
    cohort = scan(make_dataset(tmp_path), layout="echonet")
    clip = load(cohort, "0X1A")
    assert isinstance(clip, EchoClip)
    np.testing.assert_array_equal(clip.frames, video_frames(0, 8))
    assert clip.fps == 50.0
    assert clip.view == "A4C"
    assert clip.subject_id == "0X1A"
    assert (clip.metadata["ef_pct"], clip.metadata["edv_ml"], clip.metadata["esv_ml"]) == (55.5, 67.6, 30.1)
    tracings = clip.metadata["volume_tracings"]
    assert list(tracings) == [5, 1]  # order of appearance in the CSV
    np.testing.assert_allclose(tracings[5], [[10, 2.5, 12, 20.5], [11, 3.5, 13, 19.5], [12, 4.5, 14, 18.5]])
    assert tracings[1].shape == (3, 4)
    # A video without tracing rows gets an empty mapping.
    assert load(cohort, "0X3C").metadata["volume_tracings"] == {}


def test_tracings_are_optional(tmp_path: Path) -> None:
    cohort = scan(make_dataset(tmp_path, tracings=False), layout="echonet")
    assert "tracings" not in cohort["0X1A"].paths
    assert "volume_tracings" not in load(cohort, "0X1A").metadata


def test_bad_rows_and_missing_videos_become_bad_cases(tmp_path: Path) -> None:
    rows = {
        **ROWS,
        "0X3C": "0X3C,sixty,20.0,53.0,24,28,30,7,TEST",  # unparseable EF
        "0X4D": "0X4D,50,40,80,24,28,50,10,TRAIN",  # no video file
        "0X5E": "0X5E,50,40,80,24,28,50,10,TRAIN,extra",  # one field too many
        "0X6F": "0X6F,50,40,80,24,28",  # fields missing
        "dup": "0X1A,50,40,80,24,28,50,8,TRAIN",  # second row for 0X1A
    }
    root = make_dataset(tmp_path, rows=rows)
    cohort = echonet.scan(root)
    assert cohort.subject_ids == ["0X1A", "0X2B"]
    bad = {case.subject_id: case for case in cohort.bad_cases}
    assert set(bad) == {"0X3C", "0X4D", "0X5E", "0X6F", "0X1A"}
    assert bad["0X3C"].path == str(root / "FileList.csv")
    assert "line 4" in bad["0X3C"].problem and "EF='sixty'" in bad["0X3C"].problem
    assert bad["0X4D"].path == str(root / "Videos" / "0X4D.avi")
    assert "does not exist" in bad["0X4D"].problem
    assert "more fields" in bad["0X5E"].problem
    assert "FPS=''" in bad["0X6F"].problem
    assert "duplicate" in bad["0X1A"].problem
    # The good subjects still load.
    assert load(cohort, "0X2B").n_frames == 6


def test_empty_video_is_a_bad_case(tmp_path: Path) -> None:
    root = make_dataset(tmp_path)
    (root / "Videos" / "0X2B.avi").write_bytes(b"")
    cohort = echonet.scan(root)
    assert cohort.subject_ids == ["0X1A", "0X3C"]
    [case] = cohort.bad_cases
    assert case.path.endswith("0X2B.avi") and "empty" in case.problem


def test_missing_required_column_raises(tmp_path: Path) -> None:
    root = make_dataset(tmp_path)
    (root / "FileList.csv").write_text("FileName,EF,ESV,FPS,NumberOfFrames,Split\n0X1A,50,30,50,8,TRAIN\n")
    with pytest.raises(MalformedTableError, match="FileList.csv") as info:
        echonet.scan(root)
    assert "EDV" in info.value.problem


def test_tracings_missing_column_raises(tmp_path: Path) -> None:
    root = make_dataset(tmp_path)
    (root / "VolumeTracings.csv").write_text("FileName,X1,Y1,X2,Frame\n0X1A.avi,1,2,3,0\n")
    with pytest.raises(MalformedTableError, match="VolumeTracings.csv.*Y2"):
        echonet.scan(root)


def test_unparseable_tracing_names_the_table(tmp_path: Path) -> None:
    root = make_dataset(tmp_path)
    with (root / "VolumeTracings.csv").open("a") as handle:
        handle.write("0X3C.avi,1,two,3,4,0\n")
    cohort = echonet.scan(root)
    with pytest.raises(MalformedTableError, match="VolumeTracings.csv.*0X3C"):
        load(cohort, "0X3C")
    assert set(load(cohort, "0X2B").metadata["volume_tracings"]) == {0, 4}


def test_binary_filelist_is_malformed(tmp_path: Path) -> None:
    root = make_dataset(tmp_path)
    (root / "FileList.csv").write_bytes(b"\xff\xfe\x00\x81garbage\x00\x00")
    with pytest.raises(MalformedTableError, match="FileList.csv"):
        echonet.scan(root)
