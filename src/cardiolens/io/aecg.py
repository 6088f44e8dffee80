"""HL7 annotated ECG (aECG, namespace ``urn:hl7-org:v3``) read into / written from :class:`ECG12`.

An aECG document holds one or more ``series``; the rhythm series (code ``RHYTHM``)
carries a ``sequenceSet`` with one time sequence (``TIME_ABSOLUTE`` or
``TIME_RELATIVE``, whose ``increment`` gives the sampling interval) and one
``SLIST_PQ`` sequence per lead (code ``MDC_ECG_LEAD_*``): physical value =
``origin + scale * digit``, in uV or mV. Representative beats live in
``derivedSeries`` elements and are ignored.

Many devices store only the 8 independent leads (I, II, V1-V6). Missing limb
leads are then derived with Einthoven's and Goldberger's relations:
III = II - I, aVR = -(I + II) / 2, aVL = I - II / 2, aVF = II - I / 2; the names
of derived leads are listed in ``metadata["derived_leads"]``.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from cardiolens.data.ecg import ECG12, normalise_lead_name
from cardiolens.data.labels import STANDARD_LEADS
from cardiolens.errors import CorruptFileError, LeadConfigurationError, MissingDataError
from cardiolens.io.atomic import atomic_path
from cardiolens.io.files import require_file

HL7_NS = "urn:hl7-org:v3"
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_LEAD_PREFIX = "MDC_ECG_LEAD_"
_UNIT_TO_MV = {"uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "mv": 1.0, "v": 1e3, "nv": 1e-6}
_TIME_UNIT_TO_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6}

#: Amplitude resolution of :func:`write_aecg`: digits are integers of this many uV.
AECG_SCALE_UV = 1.0

#: How limb leads follow from I and II (Einthoven / Goldberger).
_DERIVED_FROM_I_II = {
    "III": (-1.0, 1.0),
    "aVR": (-0.5, -0.5),
    "aVL": (1.0, -0.5),
    "aVF": (-0.5, 1.0),
}


def _local(tag: object) -> str:
    """Element name without its namespace (tolerates files that omit the HL7 namespace)."""
    return str(tag).rpartition("}")[2]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _descendants(element: ET.Element, name: str) -> list[ET.Element]:
    return [node for node in element.iter() if _local(node.tag) == name]


def _code_of(element: ET.Element) -> str:
    code = _child(element, "code")
    return "" if code is None else code.get("code", "").strip()


def _physical(element: ET.Element | None, what: str, path: Path, table: dict[str, float]) -> float:
    """``value`` x unit factor of a PQ element such as ``origin``/``scale``/``increment``."""
    if element is None:
        raise MissingDataError(path, f"aECG sequence has no {what}")
    unit = element.get("unit", "").strip()
    factor = table.get(unit.lower())
    if factor is None:
        raise LeadConfigurationError(path, f"aECG {what} has unknown unit {unit!r}")
    try:
        value = float(element.get("value", ""))
    except ValueError as exc:
        raise CorruptFileError(path, f"aECG {what} value {element.get('value')!r} is not a number") from exc
    return value * factor


def _rhythm_series(root: ET.Element, path: Path) -> ET.Element:
    series = _descendants(root, "series")
    if not series:
        raise LeadConfigurationError(path, "no ECG series found in the aECG document")
    rhythm = [s for s in series if _code_of(s).upper() == "RHYTHM"]
    return (rhythm or series)[0]


def _series_sequences(series: ET.Element) -> list[ET.Element]:
    """series/component/sequenceSet/component/sequence, skipping derived series (beats)."""
    return [
        sequence
        for component in _children(series, "component")
        for sequence_set in _children(component, "sequenceSet")
        for item in _children(sequence_set, "component")
        for sequence in _children(item, "sequence")
    ]


def _sampling_rate_hz(sequences: list[ET.Element], path: Path) -> float:
    for sequence in sequences:
        if _code_of(sequence).upper().startswith("TIME_"):
            value = _child(sequence, "value")
            increment_s = _physical(
                None if value is None else _child(value, "increment"), "time increment", path, _TIME_UNIT_TO_S
            )
            if not math.isfinite(increment_s) or increment_s <= 0:
                raise CorruptFileError(path, f"aECG time increment must be positive, got {increment_s} s")
            return round(1.0 / increment_s, 6)  # 0.002 s -> 500 Hz without float noise
    raise MissingDataError(path, "aECG rhythm series has no time sequence (TIME_ABSOLUTE/TIME_RELATIVE)")


def _lead_signal_mv(value: ET.Element, lead: str, path: Path) -> np.ndarray:
    origin_mv = _physical(_child(value, "origin"), f"origin of lead {lead}", path, _UNIT_TO_MV)
    scale_mv = _physical(_child(value, "scale"), f"scale of lead {lead}", path, _UNIT_TO_MV)
    digits = _child(value, "digits")
    if digits is None or not (digits.text or "").strip():
        raise MissingDataError(path, f"aECG lead {lead} has no digits")
    try:
        samples = np.array(digits.text.split(), dtype=np.float64)
    except ValueError as exc:
        raise CorruptFileError(path, f"aECG lead {lead} holds non-numeric digits") from exc
    return origin_mv + scale_mv * samples


def _derive_limb_leads(leads: dict[str, np.ndarray], path: Path) -> list[str]:
    missing = [lead for lead in _DERIVED_FROM_I_II if lead not in leads]
    if missing and not {"I", "II"} <= leads.keys():
        return []  # nothing to derive from; the lead check below names what is missing
    for lead in missing:
        weight_i, weight_ii = _DERIVED_FROM_I_II[lead]
        leads[lead] = weight_i * leads["I"] + weight_ii * leads["II"]
    return missing


def _demographics(root: ET.Element) -> dict[str, Any]:
    """Sex and age (years, from birth time and acquisition time) when the document has them."""
    meta: dict[str, Any] = {"sex": None, "age": None}
    for person in _descendants(root, "subjectDemographicPerson"):
        gender = _child(person, "administrativeGenderCode")
        if gender is not None and gender.get("code", "").upper() in ("M", "F"):
            meta["sex"] = gender.get("code", "").upper()
        birth = _child(person, "birthTime")
        acquired = _child(root, "effectiveTime")
        low = None if acquired is None else _child(acquired, "low")
        if birth is not None and low is not None:
            meta["age"] = _years_between(birth.get("value", ""), low.get("value", ""))
    return meta


def _years_between(born: str, on: str) -> float | None:
    try:
        b = date(int(born[:4]), int(born[4:6]), int(born[6:8]))
        d = date(int(on[:4]), int(on[4:6]), int(on[6:8]))
    except ValueError:
        return None
    years = d.year - b.year - ((d.month, d.day) < (b.month, b.day))
    return float(years) if years >= 0 else None


def read_aecg(path: str | os.PathLike[str]) -> ECG12:
    """Read the rhythm series of an HL7 aECG XML file into an :class:`ECG12` (mV, fs in Hz).

    Leads are identified by their ``MDC_ECG_LEAD_*`` codes; leads other than the
    standard 12 are dropped, and III/aVR/aVL/aVF are derived from I and II when
    absent (see the module docstring). ``metadata`` holds ``sex``, ``age`` (when a
    birth time and acquisition time are stored), ``derived_leads`` and ``simulated``.

    Raises:
        CorruptFileError: malformed XML, not an aECG document, or non-numeric values.
        LeadConfigurationError: no leads, leads of unequal length, or standard leads
            missing that cannot be derived.
        MissingDataError: no time sequence / increment, or a lead without digits.
    """
    file = require_file(path)
    try:
        root = ET.parse(file).getroot()
    except ET.ParseError as exc:
        raise CorruptFileError(file, f"malformed XML ({exc})") from exc
    if _local(root.tag) != "AnnotatedECG":
        raise CorruptFileError(file, f"not an HL7 aECG document (root element <{_local(root.tag)}>)")
    series = _rhythm_series(root, file)
    sequences = _series_sequences(series)
    fs_hz = _sampling_rate_hz(sequences, file)
    leads: dict[str, np.ndarray] = {}
    for sequence in sequences:
        code = _code_of(sequence)
        value = _child(sequence, "value")
        if not code.upper().startswith(_LEAD_PREFIX) or value is None:
            continue
        lead = normalise_lead_name(code[len(_LEAD_PREFIX):])
        if lead in STANDARD_LEADS and lead not in leads:
            leads[lead] = _lead_signal_mv(value, lead, file)
    if not leads:
        raise LeadConfigurationError(file, "no standard ECG leads (MDC_ECG_LEAD_*) in the rhythm series")
    lengths = {lead: len(signal) for lead, signal in leads.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{lead}: {n}" for lead, n in lengths.items())
        raise LeadConfigurationError(file, f"leads have unequal lengths ({detail})")
    derived = _derive_limb_leads(leads, file)
    names = list(leads)
    metadata = _demographics(root)
    text = _child(root, "text")
    metadata["simulated"] = text is not None and (text.text or "").strip().upper().startswith("SIMULATED")
    metadata["derived_leads"] = derived
    subject_id = file.stem
    for trial_subject in _descendants(root, "trialSubject")[:1]:
        subject_ref = _child(trial_subject, "id")
        if subject_ref is not None:
            subject_id = subject_ref.get("extension", subject_id)
    return ECG12.from_leads(
        np.column_stack([leads[n] for n in names]),
        names,
        fs_hz,
        subject_id=subject_id,
        source=str(file),
        metadata=metadata,
    )


def _sub(parent: ET.Element, name: str, **attributes: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{HL7_NS}}}{name}", attributes)


def _sequence(sequence_set: ET.Element, code: str, code_system: str) -> ET.Element:
    sequence = _sub(_sub(sequence_set, "component"), "sequence")
    _sub(sequence, "code", code=code, codeSystem=code_system)
    return sequence


def write_aecg(ecg: ECG12, path: str | os.PathLike[str]) -> Path:
    """Write ``ecg`` as a minimal HL7 aECG XML file (atomically) and return its path.

    One rhythm series with a ``TIME_RELATIVE`` sequence (increment 1/fs_hz s) and
    the 12 standard leads as ``SLIST_PQ`` with origin 0 uV and scale
    :data:`AECG_SCALE_UV` (1 uV), so values round-trip within 0.5 uV. Sex and the
    subject id are stored; a ``<text>SIMULATED</text>`` marks simulated data. Age
    is not written (aECG stores a birth date, which we do not have).
    """
    ET.register_namespace("", HL7_NS)
    ET.register_namespace("xsi", _XSI_NS)
    root = ET.Element(f"{{{HL7_NS}}}AnnotatedECG")
    _sub(root, "id", root="cardiolens", extension=ecg.subject_id or "unknown")
    _sub(root, "code", code="93000", codeSystem="2.16.840.1.113883.6.12", codeSystemName="CPT-4")
    if ecg.metadata.get("simulated"):
        _sub(root, "text").text = "SIMULATED (cardiolens synthetic data, not from a patient)"
    trial_subject = root
    for name in ("componentOf", "timepointEvent", "componentOf", "subjectAssignment", "subject", "trialSubject"):
        trial_subject = _sub(trial_subject, name)
    _sub(trial_subject, "id", extension=ecg.subject_id or "unknown")
    sex = ecg.metadata.get("sex")
    if sex in ("M", "F"):
        person = _sub(trial_subject, "subjectDemographicPerson")
        _sub(person, "administrativeGenderCode", code=sex, codeSystem="2.16.840.1.113883.5.1")
    series = _sub(_sub(root, "component"), "series")
    _sub(series, "code", code="RHYTHM", codeSystem="2.16.840.1.113883.5.4")
    sequence_set = _sub(_sub(series, "component"), "sequenceSet")
    xsi_type = f"{{{_XSI_NS}}}type"
    time_value = _sub(_sequence(sequence_set, "TIME_RELATIVE", "2.16.840.1.113883.5.4"), "value")
    time_value.set(xsi_type, "GLIST_PQ")
    _sub(time_value, "head", value="0", unit="s")
    _sub(time_value, "increment", value=repr(1.0 / float(ecg.fs_hz)), unit="s")
    digits = np.round(np.asarray(ecg.signal_mv, dtype=np.float64) * 1000.0 / AECG_SCALE_UV).astype(np.int64)
    for index, lead in enumerate(STANDARD_LEADS):
        value = _sub(_sequence(sequence_set, _LEAD_PREFIX + lead.upper(), "2.16.840.1.113883.6.24"), "value")
        value.set(xsi_type, "SLIST_PQ")
        _sub(value, "origin", value="0", unit="uV")
        _sub(value, "scale", value=f"{AECG_SCALE_UV:g}", unit="uV")
        _sub(value, "digits").text = " ".join(map(str, digits[:, index].tolist()))
    ET.indent(root, space="  ")
    target = Path(path)
    with atomic_path(target) as tmp:
        ET.ElementTree(root).write(tmp, encoding="UTF-8", xml_declaration=True)
    return target
