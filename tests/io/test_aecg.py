"""HL7 aECG reader/writer: round trip, scales and units, 8-lead derivation, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cardiolens.data.ecg import ECG12
from cardiolens.data.labels import STANDARD_LEADS
from cardiolens.errors import CorruptFileError, LeadConfigurationError, MissingDataError
from cardiolens.io.aecg import read_aecg, write_aecg

FS_HZ = 500.0


def analytic_signal_mv(n_samples: int = 400, fs_hz: float = FS_HZ) -> np.ndarray:
    t = np.arange(n_samples) / fs_hz
    k = np.arange(12)
    return (0.15 * (k + 1)) * np.sin(2 * np.pi * (1.5 + 0.25 * k) * t[:, None]) - 0.02 * k


def _lead_xml(code: str, digits: list[int], origin: str, scale: str, unit: str) -> str:
    return f"""
      <component><sequence>
        <code code="{code}" codeSystem="2.16.840.1.113883.6.24"/>
        <value xsi:type="SLIST_PQ">
          <origin value="{origin}" unit="{unit}"/>
          <scale value="{scale}" unit="{unit}"/>
          <digits>{' '.join(map(str, digits))}</digits>
        </value>
      </sequence></component>"""


def aecg_xml(
    leads: dict[str, list[int]],
    increment: str = "0.002",
    increment_unit: str = "s",
    origin: str = "0",
    scale: str = "5",
    unit: str = "uV",
    with_time: bool = True,
) -> str:
    """A hand-written aECG document like those from devices (TIME_ABSOLUTE, GLIST_TS).

    It also carries a derived representative-beat series with a bogus lead III that
    the reader must ignore.
    """
    time = f"""
      <component><sequence>
        <code code="TIME_ABSOLUTE" codeSystem="2.16.840.1.113883.5.4"/>
        <value xsi:type="GLIST_TS">
          <head value="20240101120000.000"/>
          <increment value="{increment}" unit="{increment_unit}"/>
        </value>
      </sequence></component>""" if with_time else ""
    body = "".join(_lead_xml(code, d, origin, scale, unit) for code, d in leads.items())
    beat = _lead_xml("MDC_ECG_LEAD_III", [999] * 3, "0", "1", "mV")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <id root="2.16.840.1.113883.3.1"/>
  <effectiveTime><low value="20240101120000"/></effectiveTime>
  <componentOf><timepointEvent><componentOf><subjectAssignment><subject><trialSubject>
    <id extension="SUBJ-7"/>
    <subjectDemographicPerson>
      <administrativeGenderCode code="M" codeSystem="2.16.840.1.113883.5.1"/>
      <birthTime value="19600615"/>
    </subjectDemographicPerson>
  </trialSubject></subject></subjectAssignment></componentOf></timepointEvent></componentOf>
  <component><series>
    <code code="RHYTHM" codeSystem="2.16.840.1.113883.5.4"/>
    <component><sequenceSet>{time}{body}
    </sequenceSet></component>
    <derivation><derivedSeries>
      <code code="REPRESENTATIVE_BEAT" codeSystem="2.16.840.1.113883.5.4"/>
      <component><sequenceSet>{beat}</sequenceSet></component>
    </derivedSeries></derivation>
  </series></component>
</AnnotatedECG>
"""


def digits_of(n: int, lead_index: int) -> list[int]:
    return [int(v) for v in (np.arange(n) * (lead_index + 1) - 7 * lead_index)]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_round_trip_preserves_values_fs_and_metadata(tmp_path: Path) -> None:
    signal = analytic_signal_mv()
    ecg = ECG12(signal_mv=signal, fs_hz=FS_HZ, subject_id="sim-001", metadata={"sex": "F", "simulated": True})
    path = write_aecg(ecg, tmp_path / "out.xml")
    back = read_aecg(path)
    assert back.fs_hz == FS_HZ
    assert back.lead_names == STANDARD_LEADS
    assert np.abs(back.signal_mv - signal).max() <= 0.5e-3 + 1e-6  # 1 uV digits
    assert back.subject_id == "sim-001"
    assert back.metadata["sex"] == "F" and back.metadata["simulated"] is True
    assert back.metadata["derived_leads"] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xml"]  # no temporary left
    assert "MDC_ECG_LEAD_AVR" in path.read_text()


def test_round_trip_odd_fs(tmp_path: Path) -> None:
    ecg = ECG12(signal_mv=analytic_signal_mv(fs_hz=300.0), fs_hz=300.0)
    assert read_aecg(write_aecg(ecg, tmp_path / "odd.xml")).fs_hz == pytest.approx(300.0)


def test_origin_scale_and_uv_units(tmp_path: Path) -> None:
    leads = {f"MDC_ECG_LEAD_{lead.upper()}": digits_of(20, i) for i, lead in enumerate(STANDARD_LEADS)}
    path = write(tmp_path, "uv.xml", aecg_xml(leads, origin="10", scale="5", unit="uV"))
    ecg = read_aecg(path)
    assert ecg.fs_hz == 500.0
    for i, lead in enumerate(STANDARD_LEADS):
        expected_mv = (10 + 5 * np.array(digits_of(20, i))) / 1000.0
        np.testing.assert_allclose(ecg.lead(lead), expected_mv, atol=1e-6)
    assert ecg.subject_id == "SUBJ-7"
    assert ecg.metadata["sex"] == "M" and ecg.metadata["age"] == 63.0


def test_mv_units_and_ms_increment(tmp_path: Path) -> None:
    leads = {f"MDC_ECG_LEAD_{lead.upper()}": digits_of(10, i) for i, lead in enumerate(STANDARD_LEADS)}
    path = write(tmp_path, "mv.xml", aecg_xml(leads, increment="4", increment_unit="ms", scale="0.01", unit="mV"))
    ecg = read_aecg(path)
    assert ecg.fs_hz == 250.0
    np.testing.assert_allclose(ecg.lead("V6"), 0.01 * np.array(digits_of(10, 11)), atol=1e-6)


def test_eight_leads_derive_limb_leads(tmp_path: Path) -> None:
    stored = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    leads = {f"MDC_ECG_LEAD_{lead}": digits_of(30, i) for i, lead in enumerate(stored)}
    ecg = read_aecg(write(tmp_path, "eight.xml", aecg_xml(leads, scale="1")))
    lead_i, lead_ii = ecg.lead("I"), ecg.lead("II")
    np.testing.assert_allclose(ecg.lead("III"), lead_ii - lead_i, atol=1e-6)
    np.testing.assert_allclose(ecg.lead("aVR"), -(lead_i + lead_ii) / 2, atol=1e-6)
    np.testing.assert_allclose(ecg.lead("aVL"), lead_i - lead_ii / 2, atol=1e-6)
    np.testing.assert_allclose(ecg.lead("aVF"), lead_ii - lead_i / 2, atol=1e-6)
    assert ecg.metadata["derived_leads"] == ["III", "aVR", "aVL", "aVF"]
    np.testing.assert_allclose(ecg.lead("V3"), np.array(digits_of(30, 4)) / 1000.0, atol=1e-6)


def test_extra_leads_are_dropped(tmp_path: Path) -> None:
    leads = {f"MDC_ECG_LEAD_{lead.upper()}": digits_of(10, i) for i, lead in enumerate(STANDARD_LEADS)}
    leads["MDC_ECG_LEAD_V3R"] = [50000] * 10
    ecg = read_aecg(write(tmp_path, "extra.xml", aecg_xml(leads, scale="1")))
    assert np.abs(ecg.signal_mv).max() < 50


def test_malformed_xml(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.xml", "<AnnotatedECG><component>")
    with pytest.raises(CorruptFileError, match=r"broken\.xml.*malformed XML"):
        read_aecg(path)


def test_not_an_aecg_document(tmp_path: Path) -> None:
    path = write(tmp_path, "other.xml", "<html><body/></html>")
    with pytest.raises(CorruptFileError, match=r"other\.xml.*not an HL7 aECG"):
        read_aecg(path)


def test_no_leads(tmp_path: Path) -> None:
    path = write(tmp_path, "noleads.xml", aecg_xml({}))
    with pytest.raises(LeadConfigurationError, match=r"noleads\.xml.*no standard ECG leads"):
        read_aecg(path)


def test_unequal_lead_lengths(tmp_path: Path) -> None:
    leads = {f"MDC_ECG_LEAD_{lead.upper()}": digits_of(10, i) for i, lead in enumerate(STANDARD_LEADS)}
    leads["MDC_ECG_LEAD_V4"] = digits_of(9, 9)
    path = write(tmp_path, "unequal.xml", aecg_xml(leads))
    with pytest.raises(LeadConfigurationError, match=r"unequal\.xml.*unequal lengths.*V4: 9"):
        read_aecg(path)


def test_leads_that_cannot_be_derived(tmp_path: Path) -> None:
    leads = {f"MDC_ECG_LEAD_V{k}": digits_of(10, k) for k in range(1, 7)}
    path = write(tmp_path, "chest.xml", aecg_xml(leads))
    with pytest.raises(LeadConfigurationError, match=r"chest\.xml.*missing lead\(s\) I, II"):
        read_aecg(path)


def test_missing_time_increment(tmp_path: Path) -> None:
    leads = {f"MDC_ECG_LEAD_{lead.upper()}": digits_of(10, i) for i, lead in enumerate(STANDARD_LEADS)}
    path = write(tmp_path, "notime.xml", aecg_xml(leads, with_time=False))
    with pytest.raises(MissingDataError, match=r"notime\.xml.*time sequence"):
        read_aecg(path)


def test_non_numeric_digits(tmp_path: Path) -> None:
    leads = {f"MDC_ECG_LEAD_{lead.upper()}": digits_of(3, i) for i, lead in enumerate(STANDARD_LEADS)}
    text = aecg_xml(leads).replace("<digits>0 1 2</digits>", "<digits>0 x 2</digits>", 1)
    path = write(tmp_path, "nonnum.xml", text)
    with pytest.raises(CorruptFileError, match=r"nonnum\.xml.*non-numeric"):
        read_aecg(path)
