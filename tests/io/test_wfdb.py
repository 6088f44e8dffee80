"""WFDB reader/writer: analytic round trips, units, lead names, bad input, real records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb

from cardiolens.data.ecg import ECG12
from cardiolens.data.labels import STANDARD_LEADS
from cardiolens.errors import (
    CorruptFileError,
    EmptyFileError,
    LeadConfigurationError,
    MissingDataError,
    NonFiniteValueError,
)
from cardiolens.io import wfdb_io
from cardiolens.io.wfdb_io import (
    WFDB_GAIN_ADU_PER_MV,
    parse_header_comments,
    read_wfdb,
    read_wfdb_header,
    write_wfdb,
)

FS_HZ = 250.0


def analytic_signal_mv(n_samples: int = 500, fs_hz: float = FS_HZ) -> np.ndarray:
    """Distinct sine per lead (amplitude 0.2-2.4 mV, 1-4.3 Hz) plus an offset."""
    t = np.arange(n_samples) / fs_hz
    k = np.arange(12)
    return (0.2 * (k + 1)) * np.sin(2 * np.pi * (1.0 + 0.3 * k) * t[:, None]) + 0.05 * (k - 6)


def write_raw(
    folder: Path,
    name: str,
    signal_physical: np.ndarray,
    sig_names: list[str],
    units: list[str] | None = None,
    fs_hz: float = FS_HZ,
    gain: float | list[float] = 1000.0,
    comments: list[str] | None = None,
) -> Path:
    """A WFDB record written with the wfdb package directly (any names/units/values)."""
    n_sig = len(sig_names)
    gains = list(gain) if isinstance(gain, list) else [gain] * n_sig
    digital = np.round(signal_physical * np.array(gains))
    digital[np.isnan(digital)] = -32768  # WFDB invalid-sample marker
    wfdb.wrsamp(
        name,
        fs=fs_hz,
        units=units or ["mV"] * n_sig,
        sig_name=sig_names,
        d_signal=digital.astype(np.int16),
        fmt=["16"] * n_sig,
        adc_gain=gains,
        baseline=[0] * n_sig,
        comments=comments or [],
        write_dir=str(folder),
    )
    return folder / f"{name}.hea"


@pytest.fixture()
def record(tmp_path: Path) -> Path:
    ecg = ECG12(signal_mv=analytic_signal_mv(), fs_hz=FS_HZ)
    return write_wfdb(ecg, tmp_path / "rec")


# --- round trips -------------------------------------------------------------------------


def test_round_trip_preserves_values_within_quantisation_and_fs(tmp_path: Path) -> None:
    signal = analytic_signal_mv()
    header = write_wfdb(ECG12(signal_mv=signal, fs_hz=FS_HZ), tmp_path / "rt")
    back = read_wfdb(tmp_path / "rt")
    assert header == tmp_path / "rt.hea"
    assert back.fs_hz == FS_HZ
    assert back.signal_mv.shape == signal.shape
    assert back.lead_names == STANDARD_LEADS
    # gain 1000 adu/mV -> rounding error at most 0.5 uV (plus float32 storage)
    assert np.abs(back.signal_mv - signal).max() <= 0.5 / WFDB_GAIN_ADU_PER_MV + 1e-6
    text = header.read_text()
    assert "rt.dat 16 1000" in text and "/mV" in text
    for lead in STANDARD_LEADS:
        assert text.count(f" {lead}\n") == 1


def test_round_trip_non_integer_fs(tmp_path: Path) -> None:
    signal = analytic_signal_mv(fs_hz=257.5)
    write_wfdb(ECG12(signal_mv=signal, fs_hz=257.5), tmp_path / "odd")
    assert read_wfdb(tmp_path / "odd.hea").fs_hz == pytest.approx(257.5)


def test_round_trip_metadata_and_simulated_comment(tmp_path: Path) -> None:
    metadata = {"age": 63, "sex": "F", "dx": ["164873001", "426783006"], "simulated": True}
    ecg = ECG12(signal_mv=analytic_signal_mv(), fs_hz=FS_HZ, metadata=metadata)
    header = write_wfdb(ecg, tmp_path / "meta")
    comments = [line for line in header.read_text().splitlines() if line.startswith("#")]
    assert comments[0].startswith("# SIMULATED")
    back = read_wfdb(header)
    assert back.metadata["age"] == 63.0
    assert back.metadata["sex"] == "F"
    assert back.metadata["dx"] == ["164873001", "426783006"]
    assert back.metadata["simulated"] is True
    # writing again what was read does not duplicate the structured comments
    again = write_wfdb(back, tmp_path / "meta2").read_text()
    assert again.count("# Age:") == 1 and again.count("# SIMULATED") == 1


def test_not_simulated_has_no_simulated_comment(record: Path) -> None:
    assert "SIMULATED" not in record.read_text()
    assert read_wfdb(record).metadata["simulated"] is False


def test_large_amplitude_lead_gets_lower_gain(tmp_path: Path) -> None:
    signal = analytic_signal_mv()
    signal[:, 3] *= 40.0 / np.abs(signal[:, 3]).max()  # 40 mV peak does not fit 1000 adu/mV
    write_wfdb(ECG12(signal_mv=signal, fs_hz=FS_HZ), tmp_path / "big")
    back = read_wfdb(tmp_path / "big")
    assert np.abs(back.signal_mv[:, 3] - signal[:, 3]).max() <= 40.0 / 32767 + 1e-5
    assert np.abs(back.signal_mv[:, 0] - signal[:, 0]).max() <= 0.5e-3 + 1e-6


def test_write_leaves_only_the_two_files(tmp_path: Path, record: Path) -> None:
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.dat", "rec.hea"]


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def half_write(name: str, *args: object, write_dir: str = "", **kwargs: object) -> None:
        (Path(write_dir) / f"{name}.dat").write_bytes(b"\x00" * 10)
        raise OSError("disk full")

    monkeypatch.setattr(wfdb_io.wfdb, "wrsamp", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_wfdb(ECG12(signal_mv=analytic_signal_mv(), fs_hz=FS_HZ), tmp_path / "fail")
    assert list(tmp_path.iterdir()) == []


def test_path_with_and_without_hea_suffix_read_the_same(record: Path) -> None:
    a = read_wfdb(record)
    b = read_wfdb(record.with_suffix(""))
    np.testing.assert_array_equal(a.signal_mv, b.signal_mv)
    assert a.subject_id == "rec" and a.source == str(record)


# --- units and lead names -----------------------------------------------------------------


def test_mixed_units_are_converted_to_mv(tmp_path: Path) -> None:
    signal_mv = analytic_signal_mv()
    units = ["uV"] * 4 + ["V"] * 4 + ["mV"] * 4
    to_unit = {"uV": 1000.0, "V": 1e-3, "mV": 1.0}  # physical value per mV
    gain = {"uV": 1.0, "V": 1e6, "mV": 1000.0}  # 1 adu = 1 uV in every unit
    physical = signal_mv * np.array([to_unit[u] for u in units])
    header = write_raw(tmp_path, "mixed", physical, list(STANDARD_LEADS), units=units, gain=[gain[u] for u in units])
    np.testing.assert_allclose(read_wfdb(header).signal_mv, signal_mv, atol=0.5e-3 + 1e-6)


def test_uv_record_reads_as_mv(tmp_path: Path) -> None:
    signal_mv = analytic_signal_mv()
    header = write_raw(tmp_path, "uv", signal_mv * 1000.0, list(STANDARD_LEADS), units=["uV"] * 12, gain=1.0)
    np.testing.assert_allclose(read_wfdb(header).signal_mv, signal_mv, atol=0.5e-3 + 1e-6)


def test_volt_record_reads_as_mv(tmp_path: Path) -> None:
    signal_mv = analytic_signal_mv()
    header = write_raw(tmp_path, "volt", signal_mv / 1000.0, list(STANDARD_LEADS), units=["V"] * 12, gain=1e6)
    np.testing.assert_allclose(read_wfdb(header).signal_mv, signal_mv, atol=0.5e-3 + 1e-6)


def test_unknown_unit_is_rejected(tmp_path: Path) -> None:
    header = write_raw(tmp_path, "mmhg", analytic_signal_mv(), list(STANDARD_LEADS), units=["mmHg"] * 12)
    with pytest.raises(LeadConfigurationError, match="mmhg.hea.*mmHg"):
        read_wfdb(header)


def test_leads_reordered_from_any_spelling_and_extra_signals_dropped(tmp_path: Path) -> None:
    signal = analytic_signal_mv()
    spelled = ["v6", "avf", "i", "ii", "III", "AVR", "aVL", "V1", "v2", "V3", "v4", "V5", "vx"]
    order = ["V6", "aVF", "I", "II", "III", "aVR", "aVL", "V1", "V2", "V3", "V4", "V5"]
    columns = [signal[:, STANDARD_LEADS.index(lead)] for lead in order] + [np.full(len(signal), 9.0)]
    header = write_raw(tmp_path, "shuffled", np.column_stack(columns), spelled)
    ecg = read_wfdb(header)
    assert ecg.lead_names == STANDARD_LEADS
    np.testing.assert_allclose(ecg.signal_mv, signal, atol=0.5e-3 + 1e-6)
    assert np.abs(ecg.signal_mv).max() < 9.0  # the extra Frank-like signal was not kept


def test_parse_header_comments_cinc_and_ptb_styles() -> None:
    cinc = parse_header_comments(["Age: 77", "Sex: Female", "Dx: 164873001, 426783006", "Rx: Unknown"])
    assert cinc["age"] == 77.0 and cinc["sex"] == "F"
    assert cinc["dx"] == ["164873001", "426783006"]
    assert cinc["header_fields"]["Rx"] == "Unknown"
    ptb = parse_header_comments(["age: 81", "sex: male", "Diagnose:", "Reason for admission: MI"])
    assert ptb["age"] == 81.0 and ptb["sex"] == "M" and ptb["dx"] is None
    unknown = parse_header_comments(["Age: NaN", "Sex: Unknown"])
    assert unknown["age"] is None and unknown["sex"] is None and unknown["simulated"] is False


# --- bad input ---------------------------------------------------------------------------


def test_too_few_leads_names_file_and_leads_found(tmp_path: Path) -> None:
    names = list(STANDARD_LEADS[:6])
    header = write_raw(tmp_path, "six", analytic_signal_mv()[:, :6], names)
    with pytest.raises(LeadConfigurationError) as info:
        read_wfdb(header)
    message = str(info.value)
    assert "six.hea" in message and "aVF" in message and "missing V1" in message


def test_sampling_rate_mismatch(record: Path) -> None:
    assert read_wfdb(record, expected_fs_hz=FS_HZ).fs_hz == FS_HZ
    with pytest.raises(LeadConfigurationError, match=r"rec\.hea.*250 Hz, expected 500 Hz"):
        read_wfdb(record, expected_fs_hz=500)


def test_nan_samples(tmp_path: Path) -> None:
    signal = analytic_signal_mv()
    signal[10:13, 7] = np.nan
    header = write_raw(tmp_path, "nan", signal, list(STANDARD_LEADS))
    with pytest.raises(NonFiniteValueError, match=r"nan\.dat.*V2: 3"):
        read_wfdb(header)


def test_truncated_signal_file(record: Path) -> None:
    dat = record.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:5001])
    with pytest.raises(CorruptFileError, match=r"rec\.dat.*truncated"):
        read_wfdb(record)


def test_truncated_signal_file_at_frame_boundary(record: Path) -> None:
    dat = record.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[: 24 * 100])
    with pytest.raises(CorruptFileError, match=r"rec\.dat"):
        read_wfdb(record)


def test_missing_signal_file(record: Path) -> None:
    record.with_suffix(".dat").unlink()
    with pytest.raises(MissingDataError, match=r"rec\.dat"):
        read_wfdb(record)


def test_empty_header(tmp_path: Path) -> None:
    header = tmp_path / "empty.hea"
    header.write_bytes(b"")
    with pytest.raises(EmptyFileError, match=r"empty\.hea"):
        read_wfdb(header)


def test_missing_header(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match=r"nothere\.hea"):
        read_wfdb(tmp_path / "nothere")


def test_garbage_header(tmp_path: Path) -> None:
    header = tmp_path / "junk.hea"
    header.write_text("this is not a header\n")
    with pytest.raises(CorruptFileError, match=r"junk\.hea"):
        read_wfdb(header)


def test_header_with_fewer_signal_lines_than_declared(record: Path) -> None:
    lines = record.read_text().splitlines()
    record.write_text("\n".join(lines[:4]) + "\n")  # record line + 3 of 12 signal lines
    with pytest.raises(CorruptFileError, match=r"rec\.hea.*declares 12 signal\(s\) but describes 3"):
        read_wfdb_header(record)


# --- real data ---------------------------------------------------------------------------


@pytest.mark.real_data
def test_cinc2021_records_read_with_wfdb_and_match_loadmat(shared_data: Path) -> None:
    folder = shared_data / "ecg_samples" / "cinc2021"
    headers = sorted(folder.glob("*.hea"))
    assert len(headers) == 50
    lvh = []
    for header in headers:
        ecg = read_wfdb(header, expected_fs_hz=500)
        assert ecg.signal_mv.shape == (5000, 12)
        assert np.isfinite(ecg.signal_mv).all()
        if "164873001" in (ecg.metadata["dx"] or []):
            lvh.append(header.stem)
    assert lvh == ["E07505", "E07519", "JS20014"]
    # wfdb reads the .mat directly; check against MATLAB-file decoding with the header gain
    ecg = read_wfdb(folder / "E07505")
    raw = scipy.io.loadmat(folder / "E07505.mat")["val"].T
    hdr = wfdb.rdheader(str(folder / "E07505"))
    expected = (raw - np.array(hdr.baseline)) / np.array(hdr.adc_gain)
    for lead in STANDARD_LEADS:
        np.testing.assert_allclose(ecg.lead(lead), expected[:, hdr.sig_name.index(lead)], atol=1e-6)
    assert ecg.metadata["age"] == 77.0 and ecg.metadata["sex"] == "F"


@pytest.mark.real_data
def test_ptbdb_record_selects_the_12_standard_leads(shared_data: Path) -> None:
    record = shared_data / "ecg_samples" / "ptbdb" / "s0010_re"
    assert len(read_wfdb_header(record).signal_names) == 15
    ecg = read_wfdb(record, expected_fs_hz=1000)
    assert ecg.fs_hz == 1000.0
    assert ecg.signal_mv.shape == (38400, 12)
    assert ecg.duration_s == pytest.approx(38.4)
    direct = wfdb.rdrecord(str(record), channels=[4, 2])  # avl, iii as stored (gain 2000 /mV)
    np.testing.assert_allclose(ecg.lead("aVL"), direct.p_signal[:, 0], atol=1e-6)
    np.testing.assert_allclose(ecg.lead("III"), direct.p_signal[:, 1], atol=1e-6)
    assert ecg.metadata["age"] == 81.0 and ecg.metadata["sex"] == "F"
