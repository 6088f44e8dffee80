"""echo2cmr pairing: table parsing, closest-first CMR–echo pairing, labels and pseudonyms."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardiolens.errors import MalformedTableError, UnknownLayoutError, UsageError
from cardiolens.systems.echo2cmr.config import LABELS, Echo2CmrConfig
from cardiolens.systems.echo2cmr.pairing import (
    EXCLUSION_REASONS,
    derive_labels,
    label_cutoffs,
    new_id_key,
    pair_studies,
    pseudonym,
    read_cmr_table,
    read_echo_table,
    tables_from_directory,
)

CMR_HEADER = "subject_id,cmr_date,wma,lge_present,native_t1_ms,t2_ms,ecv_pct"
ECHO_HEADER = "subject_id,echo_date,file,view"


def write_tables(root: Path, cmr_rows: list[str], echo_rows: list[str], cmr_header: str = CMR_HEADER) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cmr.csv").write_text("\n".join([cmr_header, *cmr_rows]) + "\n", encoding="utf-8")
    (root / "echo.csv").write_text("\n".join([ECHO_HEADER, *echo_rows]) + "\n", encoding="utf-8")
    return root


def paired(tmp_path: Path, cmr_rows: list[str], echo_rows: list[str], window_days: int = 30):
    root = write_tables(tmp_path / "data", cmr_rows, echo_rows)
    return pair_studies(read_cmr_table(root / "cmr.csv"), read_echo_table(root / "echo.csv"), window_days)


def reasons(result) -> list[str]:
    return sorted(result.excluded["reason"])


# --- table parsing ---------------------------------------------------------------------------


def test_tables_are_typed_and_ids_stay_strings(tmp_path: Path) -> None:
    root = write_tables(
        tmp_path,
        ["007,2021-03-04,1,0,1001.5,,30.2", "7,,no,TRUE,,55,", " 0042 ,2021-05-06T10:30:00,0.0,1.0,950,49,NA"],
        ["007,2021-03-01,videos/a.avi,a4c", "7,,videos/b.avi,", "0042,2021-05-06,c.dcm,PLAX"],
    )
    cmr = read_cmr_table(root / "cmr.csv")
    assert cmr["subject_id"].tolist() == ["007", "7", "0042"]
    assert str(cmr["cmr_date"].dtype) == "datetime64[ns]"
    assert cmr["cmr_date"].iloc[0] == pd.Timestamp("2021-03-04")
    assert pd.isna(cmr["cmr_date"].iloc[1])
    assert cmr["cmr_date"].iloc[2] == pd.Timestamp("2021-05-06")  # time of day dropped
    np.testing.assert_array_equal(cmr["wma"], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(cmr["lge_present"], [0.0, 1.0, 1.0])
    assert math.isnan(cmr["t2_ms"].iloc[0]) and math.isnan(cmr["ecv_pct"].iloc[2])
    assert cmr["native_t1_ms"].iloc[0] == 1001.5

    echo = read_echo_table(root / "echo.csv")
    assert echo["subject_id"].tolist() == ["007", "7", "0042"]
    assert echo["view"].tolist() == ["A4C", "UNKNOWN", "PLAX"]
    assert echo["file"].iloc[0] == (root / "videos" / "a.avi").absolute()
    assert all(isinstance(f, Path) and f.is_absolute() for f in echo["file"])
    assert pd.isna(echo["echo_date"].iloc[1])


def test_lge_alias_and_partial_value_columns(tmp_path: Path) -> None:
    root = write_tables(tmp_path, ["A,2020-01-01,Yes", "B,2020-01-02,false"], [], cmr_header="subject_id,cmr_date,lge")
    cmr = read_cmr_table(root / "cmr.csv")
    np.testing.assert_array_equal(cmr["lge_present"], [1.0, 0.0])
    assert cmr["wma"].isna().all() and cmr["ecv_pct"].isna().all()


@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [
        (CMR_HEADER, "S1,2020-13-01,1,0,950,50,25", "line 3: cmr_date '2020-13-01' is not a date"),
        (CMR_HEADER, "S1,01/02/2020,1,0,950,50,25", "line 3: cmr_date '01/02/2020'"),
        (CMR_HEADER, "S1,2020-01-01,maybe,0,950,50,25", "line 3: wma 'maybe'"),
        (CMR_HEADER, "S1,2020-01-01,2,0,950,50,25", "line 3: wma '2'"),
        (CMR_HEADER, "S1,2020-01-01,1,0,950,abc,25", "line 3: t2_ms 'abc' is not a number"),
        (CMR_HEADER, "S1,2020-01-01,1,0,-950,50,25", "line 3: native_t1_ms '-950'"),
        (CMR_HEADER, "S1,2020-01-01,1,0,950,50,250", "line 3: ecv_pct '250'"),
        (CMR_HEADER, "S1,2020-01-01,1,0,950,50,25,extra", "line 3: 8 fields"),
        (CMR_HEADER, ",2020-01-01,1,0,950,50,25", "line 3: empty subject_id"),
        (CMR_HEADER, "S0,2020-01-01,1,0,950,50,25", "line 3: CMR study of S0 on 2020-01-01 repeats line 2"),
        ("subject_id,wma", "S1,1", "missing required column(s) cmr_date"),
        ("subject_id,cmr_date,age", "S1,2020-01-01,50", "needs at least one of the columns"),
    ],
)
def test_malformed_cmr_table_names_file_and_line(tmp_path: Path, header: str, row: str, expected: str) -> None:
    path = tmp_path / "cmr.csv"
    first = "S0,2020-01-01,0,0,950,50,25" if header == CMR_HEADER else ""
    path.write_text("\n".join(x for x in [header, first, row] if x) + "\n")
    with pytest.raises(MalformedTableError) as info:
        read_cmr_table(path)
    assert info.value.path == str(path)
    assert expected in info.value.problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("subject_id,echo_date,view\nS1,2020-01-01,A4C\n", "missing required column(s) file"),
        (ECHO_HEADER + "\nS1,2020-02-30,a.avi,A4C\n", "line 2: echo_date '2020-02-30'"),
        (ECHO_HEADER + "\nS1,2020-02-01,,A4C\n", "line 2: empty file"),
        (ECHO_HEADER + "\nS1,2020-02-01,a.avi,A4C\nS1,2020-03-01,a.avi,A2C\n", "line 3: a.avi of S1 repeats line 2"),
    ],
)
def test_malformed_echo_table_names_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "echo.csv"
    path.write_text(text)
    with pytest.raises(MalformedTableError) as info:
        read_echo_table(path)
    assert info.value.path == str(path)
    assert expected in info.value.problem


def test_binary_table_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "cmr.csv"
    path.write_bytes(b"\xff\xfe\x00\x81garbage\x00\x9c")
    with pytest.raises(MalformedTableError, match="cmr.csv"):
        read_cmr_table(path)


# --- pairing -------------------------------------------------------------------------------


def test_exact_tie_goes_to_the_echo_before_the_cmr(tmp_path: Path) -> None:
    result = paired(tmp_path, ["P1,2020-01-10,1,,,,"], ["P1,2020-01-15,after.avi,A4C", "P1,2020-01-05,before.avi,A4C"])
    assert len(result.pairs) == 1
    pair = result.pairs.iloc[0]
    assert pair["days_offset"] == -5
    assert [f.name for f in pair["files"]] == ["before.avi"]
    assert result.stats["n_tie_breaks"] == 1
    assert result.stats["n_echo_studies_unused"] == 1


def test_tied_cmrs_competing_for_one_echo(tmp_path: Path) -> None:
    # The echo is 5 days after CMR A and 5 days before CMR B: B (echo before) wins the tie.
    result = paired(tmp_path, ["P1,2020-01-01,1,,,,", "P1,2020-01-11,0,,,,"], ["P1,2020-01-06,e.avi,A4C"])
    assert result.pairs["cmr_date"].tolist() == [pd.Timestamp("2020-01-11")]
    assert result.pairs["wma"].tolist() == [0.0]
    assert reasons(result) == ["echo already paired"]
    assert result.stats["n_tie_breaks"] == 1


def test_same_date_cmr_rows_tie_to_table_order() -> None:
    # Two CMR rows of one subject on one date (a hand-made frame; the reader refuses it): the first wins.
    cmr = pd.DataFrame({"subject_id": ["P", "P"], "cmr_date": pd.to_datetime(["2020-03-01"] * 2), "wma": [1.0, 0.0]})
    echo = pd.DataFrame({"subject_id": ["P"], "echo_date": pd.to_datetime(["2020-03-02"]), "file": [Path("/e.avi")], "view": ["A4C"]})
    result = pair_studies(cmr, echo, 30)
    assert result.pairs["wma"].tolist() == [1.0]
    assert result.pairs["lge_present"].isna().all()  # absent value columns are unknown
    assert reasons(result) == ["echo already paired"]


def test_earlier_cmr_wins_when_gap_and_side_tie() -> None:
    # Candidates (A, E1) and (B, E2) tie on |gap| and side; CMR A, the earlier, is taken first, which
    # leaves B free to take E2 as well: ties never make a later candidate lose without a conflict.
    cmr = pd.DataFrame({"subject_id": ["P", "P"], "cmr_date": pd.to_datetime(["2020-03-10", "2020-01-10"])})
    echo = pd.DataFrame({"subject_id": ["P", "P"], "echo_date": pd.to_datetime(["2020-03-07", "2020-01-07"]),
                         "file": [Path("/e1.avi"), Path("/e2.avi")], "view": ["A4C", "A4C"]})
    result = pair_studies(cmr, echo, 30)
    assert result.pairs["days_offset"].tolist() == [-3, -3]
    assert result.stats["n_tie_breaks"] == 0


def test_gaps_count_calendar_days_not_hours(tmp_path: Path) -> None:
    # 22 hours apart but on consecutive dates: one day, whatever the times (the reader drops them too).
    cmr = pd.DataFrame({"subject_id": ["P"], "cmr_date": pd.to_datetime(["2020-01-02 01:00"])})
    echo = pd.DataFrame({"subject_id": ["P"], "echo_date": pd.to_datetime(["2020-01-01 23:00"]),
                         "file": [Path("/e.avi")], "view": ["A4C"]})
    assert pair_studies(cmr, echo, 30).pairs["days_offset"].tolist() == [-1]
    root = write_tables(tmp_path, ["P,2020-01-02T01:00:00+02:00,1,,,,"], ["P,2020-01-01 23:00,e.avi,A4C"])
    assert read_cmr_table(root / "cmr.csv")["cmr_date"].tolist() == [pd.Timestamp("2020-01-02")]
    assert read_echo_table(root / "echo.csv")["echo_date"].tolist() == [pd.Timestamp("2020-01-01")]


def test_window_boundary_is_inclusive(tmp_path: Path) -> None:
    result = paired(
        tmp_path,
        ["IN_AFTER,2020-01-01,1,,,,", "IN_BEFORE,2020-06-01,1,,,,", "OUT,2020-01-01,0,,,,", "OUT_BEFORE,2020-06-01,0,,,,"],
        ["IN_AFTER,2020-01-31,a.avi,A4C", "IN_BEFORE,2020-05-02,b.avi,A4C",
         "OUT,2020-02-01,c.avi,A4C", "OUT_BEFORE,2020-05-01,d.avi,A4C"],
        window_days=30,
    )
    assert sorted(result.pairs["days_offset"]) == [-30, 30]
    assert set(result.pairs["subject_id"]) == {"IN_AFTER", "IN_BEFORE"}
    assert reasons(result) == ["no echo within window"] * 2
    assert result.excluded["nearest_echo_days"].tolist() == [31.0, 31.0]
    assert result.stats["abs_gap_days"]["max"] == 30


def test_missing_dates_are_counted_and_excluded(tmp_path: Path) -> None:
    result = paired(
        tmp_path,
        ["NODATE,,1,,,,", "UNDATED_ECHO,2020-01-01,0,,,,", "NO_ECHO,2020-01-01,0,,,,", "OK,2020-01-01,1,,,,"],
        ["NODATE,2020-01-01,a.avi,A4C", "UNDATED_ECHO,,b.avi,A4C", "OK,2020-01-02,c.avi,A4C", "OK,,d.avi,A4C"],
    )
    assert result.pairs["subject_id"].tolist() == ["OK"]
    assert [f.name for f in result.pairs["files"].iloc[0]] == ["c.avi"]  # the undated file is not part of it
    assert reasons(result) == ["missing CMR date", "no echo of this subject", "no echo of this subject"]
    stats = result.stats
    assert stats["n_cmr_missing_date"] == 1
    assert stats["n_echo_files_missing_date"] == 2
    assert stats["n_echo_files"] == 4
    assert stats["n_echo_studies"] == 2  # dated studies only
    assert stats["excluded"] == {
        "missing CMR date": 1, "no echo of this subject": 2, "no echo within window": 0, "echo already paired": 0,
    }
    assert sum(stats["excluded"].values()) + stats["n_pairs"] == stats["n_cmr_studies"]


def test_competing_cmrs_closest_wins_and_other_takes_next(tmp_path: Path) -> None:
    # A-E1 is 8 days, B-E1 12 days, B-E2 20 days: A takes E1, B falls back to E2.
    result = paired(
        tmp_path,
        ["P,2020-01-01,1,,,,", "P,2020-01-21,0,,,,"],
        ["P,2020-01-09,e1.avi,A4C", "P,2020-02-10,e2.avi,A4C"],
    )
    pairs = result.pairs.set_index("cmr_date")
    assert pairs.loc[pd.Timestamp("2020-01-01"), "days_offset"] == 8
    assert pairs.loc[pd.Timestamp("2020-01-21"), "days_offset"] == 20
    assert result.excluded.empty
    # Without E2, B finds its only echo taken.
    result = paired(tmp_path / "b", ["P,2020-01-01,1,,,,", "P,2020-01-21,0,,,,"], ["P,2020-01-09,e1.avi,A4C"])
    assert result.pairs["cmr_date"].tolist() == [pd.Timestamp("2020-01-01")]
    assert reasons(result) == ["echo already paired"]
    assert result.excluded["nearest_echo_days"].tolist() == [12.0]


def test_greedy_is_closest_first_over_all_candidates(tmp_path: Path) -> None:
    # A is 10 days from E1; B is 2 days from E1 and 25 from E2: B takes E1 first, A gets nothing.
    result = paired(
        tmp_path,
        ["P,2020-01-01,1,,,,", "P,2020-01-13,0,,,,"],
        ["P,2020-01-11,e1.avi,A4C", "P,2020-02-07,e2.avi,A4C"],
    )
    by_date = dict(zip(result.pairs["cmr_date"], result.pairs["days_offset"]))
    assert by_date == {pd.Timestamp("2020-01-13"): -2}
    assert reasons(result) == ["echo already paired"]


def test_files_and_views_of_one_study_stay_together(tmp_path: Path) -> None:
    result = paired(
        tmp_path,
        ["P,2020-01-01,1,,,,"],
        ["P,2020-01-03,a4c.avi,A4C", "P,2020-01-03,a2c.dcm,a2c", "P,2020-01-03,second_a4c.avi,A4C"],
    )
    pair = result.pairs.iloc[0]
    assert [f.name for f in pair["files"]] == ["a4c.avi", "a2c.dcm", "second_a4c.avi"]
    assert pair["views"] == ["A4C", "A2C", "A4C"]
    assert result.stats["n_echo_studies"] == 1
    assert result.stats["n_echo_studies_multi_file"] == 1
    assert result.stats["n_echo_files"] == 3


def test_leading_zero_ids_are_distinct_subjects(tmp_path: Path) -> None:
    result = paired(
        tmp_path,
        ["007,2020-01-01,1,,,,", "7,2020-01-01,0,,,,"],
        ["007,2020-01-02,zero.avi,A4C", "7,2020-06-01,seven.avi,A4C"],
    )
    assert result.pairs["subject_id"].tolist() == ["007"]
    assert [f.name for f in result.pairs["files"].iloc[0]] == ["zero.avi"]
    assert reasons(result) == ["no echo within window"]


def test_stats_and_excluded_hold_no_ids_or_dates(tmp_path: Path) -> None:
    ids = ["PATIENT_ALPHA", "PATIENT_BRAVO", "PATIENT_CHARLIE", "PATIENT_DELTA"]
    result = paired(
        tmp_path,
        [f"{ids[0]},2021-04-01,1,,,,", f"{ids[1]},,0,,,,", f"{ids[2]},2021-04-01,0,,,,", f"{ids[3]},2021-04-01,1,,,,"],
        [f"{ids[0]},2021-04-03,a.avi,A4C", f"{ids[2]},2021-09-03,b.avi,A4C", f"{ids[3]},,c.avi,A4C"],
    )
    text = json.dumps(result.stats) + result.excluded.to_csv() + json.dumps(result.excluded.to_dict(orient="list"))
    for forbidden in (*ids, "2021", "PATIENT"):
        assert forbidden not in text
    assert len(result.excluded) == 3
    assert set(result.excluded.columns) == {"subject_key", "reason", "nearest_echo_days"}
    assert set(result.stats["excluded"]) == set(EXCLUSION_REASONS)
    json.loads(json.dumps(result.stats))  # plain JSON types only


def test_excluded_pseudonyms_use_the_given_key(tmp_path: Path) -> None:
    root = write_tables(tmp_path, ["P1,2020-01-01,1,,,,"], [])
    cmr, echo = read_cmr_table(root / "cmr.csv"), read_echo_table(root / "echo.csv")
    result = pair_studies(cmr, echo, 30, id_key="k1")
    assert result.excluded["subject_key"].tolist() == [pseudonym("P1", "k1")]
    assert result.excluded["reason"].tolist() == ["no echo of this subject"]
    assert result.pairs.empty and result.stats["abs_gap_days"]["median"] is None


def test_gap_statistics(tmp_path: Path) -> None:
    result = paired(
        tmp_path,
        ["A,2020-01-10,1,,,,", "B,2020-01-10,1,,,,", "C,2020-01-10,1,,,,", "D,2020-01-10,1,,,,"],
        ["A,2020-01-10,a.avi,A4C", "B,2020-01-08,b.avi,A4C", "C,2020-01-14,c.avi,A4C", "D,2020-01-30,d.avi,A4C"],
    )
    gaps = result.stats["abs_gap_days"]
    assert gaps["median"] == 3.0 and gaps["max"] == 20
    assert gaps["q1"] == pytest.approx(1.5) and gaps["q3"] == pytest.approx(8.0)
    assert (result.stats["n_pairs_echo_before_cmr"], result.stats["n_pairs_same_day"],
            result.stats["n_pairs_echo_after_cmr"]) == (1, 1, 2)


def test_window_must_be_non_negative(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="window_days"):
        paired(tmp_path, ["A,2020-01-10,1,,,,"], [], window_days=-1)


# --- labels and pseudonyms -----------------------------------------------------------------


def test_label_cutoffs_default_and_explicit() -> None:
    assert label_cutoffs(Echo2CmrConfig()) == pytest.approx({"t1": 992.0, "t2": 58.0, "ecv": 31.6})
    config = Echo2CmrConfig(abnormal_sd=1.0, native_t1_cutoff_ms=1000.0)
    assert label_cutoffs(config) == pytest.approx({"t1": 1000.0, "t2": 54.0, "ecv": 28.6})


def test_derive_labels_thresholds_and_nan() -> None:
    cmr = pd.DataFrame(
        {
            "wma": [1.0, 0.0, np.nan],
            "lge_present": [0.0, np.nan, 1.0],
            "native_t1_ms": [992.0, 992.1, np.nan],
            "t2_ms": [58.0, 58.1, 40.0],
            "ecv_pct": [np.nan, 31.7, 31.6],
        },
        index=[5, 6, 7],
    )
    labels = derive_labels(cmr, Echo2CmrConfig())
    assert list(labels.columns) == list(LABELS)
    assert list(labels.index) == [5, 6, 7]
    expected = np.array(
        [[1, 0, 0, 0, np.nan], [0, np.nan, 1, 1, 1], [np.nan, 1, np.nan, 0, 0]], dtype=float
    )
    np.testing.assert_array_equal(labels.to_numpy(), expected)
    explicit = derive_labels(cmr, Echo2CmrConfig(native_t1_cutoff_ms=1000.0, t2_cutoff_ms=45.0, ecv_cutoff_pct=31.65))
    np.testing.assert_array_equal(explicit["t1"], [0.0, 0.0, np.nan])
    np.testing.assert_array_equal(explicit["t2"], [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(explicit["ecv"], [np.nan, 1.0, 0.0])


def test_derive_labels_without_value_columns_is_unknown() -> None:
    labels = derive_labels(pd.DataFrame({"subject_id": ["a"], "wma": [1.0]}), Echo2CmrConfig())
    assert labels["wma"].tolist() == [1.0]
    assert labels[["lge", "t1", "t2", "ecv"]].isna().all().all()


def test_pseudonym_is_stable_and_key_dependent() -> None:
    a = pseudonym("007", "key-one")
    assert a == pseudonym("007", "key-one")
    assert a.startswith("S") and len(a) == 13 and all(c in "0123456789abcdef" for c in a[1:])
    assert a != pseudonym("007", "key-two")
    assert a != pseudonym("7", "key-one")
    assert pseudonym("007", "key-one", prefix="P")[1:] == a[1:]
    with pytest.raises(UsageError):
        pseudonym("007", "")
    k1, k2 = new_id_key(), new_id_key()
    assert k1 != k2 and len(k1) == 32 and int(k1, 16) >= 0


# --- data folders --------------------------------------------------------------------------


def test_tables_from_directory_echo_cmr(tmp_path: Path) -> None:
    root = write_tables(tmp_path / "d", ["A,2020-01-01,1,,,,"], ["A,2020-01-02,a.avi,A4C"])
    cmr, echo, layout, simulated = tables_from_directory(root)
    assert (layout, simulated) == ("echo-cmr", False)
    assert cmr["subject_id"].tolist() == ["A"] and echo["file"].iloc[0] == (root / "a.avi").absolute()
    (root / "SIMULATED_DATA.txt").write_text("simulated\n")
    assert tables_from_directory(str(root))[2:] == ("echo-cmr", True)
    assert tables_from_directory(f"echo-cmr:{root}")[2] == "echo-cmr"


def test_tables_from_directory_simulated_cohort_manifest(tmp_path: Path) -> None:
    root = tmp_path / "sim"
    (root / "SIM0001").mkdir(parents=True)
    (root / "SIM0002").mkdir()
    (root / "SIM0001" / "echo_a4c.dcm").write_bytes(b"x")
    (root / "SIMULATED_DATA.txt").write_text("simulated\n")
    (root / "manifest.csv").write_text(
        "subject_id,simulated,cine_group,wma,lge_present,native_t1_ms,t2_ms,ecv_pct,cmr_date,echo_date\n"
        "SIM0001,True,MINF,True,True,1010.5,57.0,33.1,2021-01-01,2021-01-20\n"
        "SIM0002,True,NOR,False,False,940.0,49.0,25.0,2021-02-01,\n"
    )
    cmr, echo, layout, simulated = tables_from_directory(root)
    assert (layout, simulated) == ("synthetic", True)
    np.testing.assert_array_equal(cmr["wma"], [1.0, 0.0])
    assert [f.name for f in echo["file"]] == ["echo_a4c.dcm", "echo_a4c.avi"]  # .dcm when present
    assert echo["view"].tolist() == ["A4C", "A4C"]
    result = pair_studies(cmr, echo, 30)
    assert result.pairs["subject_id"].tolist() == ["SIM0001"]
    assert result.stats["n_echo_files_missing_date"] == 1


def test_tables_from_directory_rejects_other_folders(tmp_path: Path) -> None:
    (tmp_path / "cmr.csv").write_text(CMR_HEADER + "\n")
    with pytest.raises(UnknownLayoutError) as info:
        tables_from_directory(tmp_path)
    assert info.value.path == str(tmp_path) and "echo.csv" in info.value.problem
    with pytest.raises(UsageError, match="acdc"):
        tables_from_directory(f"acdc:{tmp_path}")
