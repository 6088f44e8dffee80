"""A simulated echo–CMR paired cohort for ``echo2cmr``, written as echo-cmr tables. SIMULATED DATA.

Everything here is simulated and labelled so (``SIMULATED_DATA.txt``); it
measures nothing about patients.

Design (each subject ``ECHnnnnn`` from its own stream
``default_rng([seed, index, 11])``, so a subject is the same whatever ``n``):

- phenotype: normal 45 %, ischaemic 35 %, non-ischaemic 20 %;
- CMR: wall-motion abnormality with probability 0.03 / 0.80 / 0.20 and LGE
  0.02 / 0.90 / 0.50 by phenotype; native T1 ~ N(950, 21) ms, plus
  N(45, 15) ms with LGE or a non-ischaemic phenotype; T2 ~ N(50, 4) ms, plus
  10 ms in an "acute" 20 % of ischaemic / non-ischaemic subjects; ECV ~
  N(25.6, 3) %, plus N(6, 2) % with LGE;
- dates: one CMR on 2020-01-01 + 0..3 years; one echo study (70 %) or two
  (30 %); the first within +-25 days of the CMR in 85 % of subjects, else
  31-120 days away; a second anywhere within +-200 days (never on the first's
  date); 2 % of echo dates and 1 % of CMR dates are missing (empty cells);
  10 % of echo studies hold a second A4C file;
- each file: an independent acquisition by
  :func:`cardiolens.synth.echo.simulate_echo` with the subject's WMA and
  tissue labels (abnormal by the default cut-offs, normal mean + 2 SD).

The tissue labels (LGE, T1, T2, ECV) do not show in the video unless
``tissue_effect`` > 0, but they correlate with WMA through the phenotype (as
infarcts do), so a model that sees only motion still predicts them above
chance: the pattern of the reference study, where WMA is predicted well and
tissue character much less.

Written files::

    SIMULATED_DATA.txt
    cmr.csv      subject_id, cmr_date, wma, lge_present, native_t1_ms, t2_ms, ecv_pct
    echo.csv     subject_id, echo_date, file, view
    truth.csv    subject_id, phenotype, wma_segment, ef_pct (of the subject's first video)
    videos/ECHnnnnn_<k>.avi   (lossless FFV1; k = 1, 2, ... over the subject's files)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from cardiolens import SIMULATED_NOTICE
from cardiolens.errors import UsageError
from cardiolens.io.atomic import atomic_dir
from cardiolens.io.video import write_video
from cardiolens.synth.echo import simulate_echo

PHENOTYPES: tuple[str, ...] = ("normal", "ischaemic", "non_ischaemic")
PHENOTYPE_PROBABILITY: tuple[float, ...] = (0.45, 0.35, 0.20)
WMA_PROBABILITY: dict[str, float] = {"normal": 0.03, "ischaemic": 0.80, "non_ischaemic": 0.20}
LGE_PROBABILITY: dict[str, float] = {"normal": 0.02, "ischaemic": 0.90, "non_ischaemic": 0.50}
#: Default abnormality cut-offs (normal mean + 2 SD; the echo2cmr config defaults).
NATIVE_T1_CUTOFF_MS = 950.0 + 2 * 21.0
T2_CUTOFF_MS = 50.0 + 2 * 4.0
ECV_CUTOFF_PCT = 25.6 + 2 * 3.0
FIRST_CMR_DATE = date(2020, 1, 1)
CMR_COLUMNS: tuple[str, ...] = ("subject_id", "cmr_date", "wma", "lge_present", "native_t1_ms", "t2_ms", "ecv_pct")
ECHO_COLUMNS: tuple[str, ...] = ("subject_id", "echo_date", "file", "view")


def subject_id_for(index: int) -> str:
    """``ECH00001`` for index 0."""
    return f"ECH{index + 1:05d}"


@dataclass
class EchoStudyPlan:
    """One simulated echo study: its offset from the CMR (days), date (None = missing) and file count."""

    offset_days: int
    echo_date: date | None
    n_files: int


@dataclass
class PairedEchoSubject:
    """The table rows of one simulated subject (no video yet).

    Attributes:
        subject_id, phenotype: identity and drawn phenotype.
        cmr_date: None when missing.
        wma, lge_present: CMR findings.
        native_t1_ms, t2_ms (ms), ecv_pct (%): CMR values, rounded to 0.1.
        acute: the T2 (oedema) shift was applied.
        studies: the echo studies.
    """

    subject_id: str
    phenotype: str
    cmr_date: date | None
    wma: bool
    lge_present: bool
    native_t1_ms: float
    t2_ms: float
    ecv_pct: float
    acute: bool
    studies: list[EchoStudyPlan] = field(default_factory=list)

    def tissue_abnormal(self) -> dict[str, bool]:
        """CMR tissue labels by the default cut-offs, as :func:`simulate_echo` takes them."""
        return {
            "lge": self.lge_present,
            "t1": self.native_t1_ms > NATIVE_T1_CUTOFF_MS,
            "t2": self.t2_ms > T2_CUTOFF_MS,
            "ecv": self.ecv_pct > ECV_CUTOFF_PCT,
        }

    def cmr_row(self) -> dict[str, object]:
        return {
            "subject_id": self.subject_id,
            "cmr_date": "" if self.cmr_date is None else self.cmr_date.isoformat(),
            "wma": int(self.wma),
            "lge_present": int(self.lge_present),
            "native_t1_ms": self.native_t1_ms,
            "t2_ms": self.t2_ms,
            "ecv_pct": self.ecv_pct,
        }

    def file_names(self) -> list[tuple[EchoStudyPlan, str]]:
        """(study, relative file name) of every echo file, k = 1, 2, ... over the subject."""
        names = []
        for study in self.studies:
            for _ in range(study.n_files):
                names.append((study, f"videos/{self.subject_id}_{len(names) + 1}.avi"))
        return names

    def echo_rows(self) -> list[dict[str, object]]:
        return [
            {"subject_id": self.subject_id, "echo_date": "" if s.echo_date is None else s.echo_date.isoformat(),
             "file": name, "view": "A4C"}
            for s, name in self.file_names()
        ]


def draw_subject(rng: np.random.Generator, index: int) -> PairedEchoSubject:
    """Draw one subject's phenotype, CMR values and echo studies from ``rng`` (always in the same order)."""
    phenotype = PHENOTYPES[int(rng.choice(len(PHENOTYPES), p=PHENOTYPE_PROBABILITY))]
    wma = bool(rng.random() < WMA_PROBABILITY[phenotype])
    lge = bool(rng.random() < LGE_PROBABILITY[phenotype])
    # Every draw is made whatever the phenotype, so the stream stays aligned between subjects.
    t1 = rng.normal(950.0, 21.0)
    t1_shift = rng.normal(45.0, 15.0)
    acute = bool(rng.random() < 0.2) and phenotype != "normal"
    t2 = rng.normal(50.0, 4.0)
    ecv = rng.normal(25.6, 3.0)
    ecv_shift = rng.normal(6.0, 2.0)
    cmr_date = FIRST_CMR_DATE + timedelta(days=int(rng.integers(0, 3 * 365)))
    n_studies = 1 if rng.random() < 0.7 else 2
    near = rng.random() < 0.85
    near_offset = int(rng.integers(-25, 26))
    far_offset = int(rng.choice([-1, 1]) * rng.integers(31, 121))
    offsets = [near_offset if near else far_offset]
    second = int(rng.integers(-200, 200))
    offsets.append(second + 1 if second >= offsets[0] else second)  # any of the 400 other days in +-200
    echo_missing = rng.random(2) < 0.02
    extra_file = rng.random(2) < 0.10
    cmr_missing = bool(rng.random() < 0.01)

    studies = [
        EchoStudyPlan(offset, None if echo_missing[k] else cmr_date + timedelta(days=offset), 1 + int(extra_file[k]))
        for k, offset in enumerate(offsets[:n_studies])
    ]
    return PairedEchoSubject(
        subject_id=subject_id_for(index),
        phenotype=phenotype,
        cmr_date=None if cmr_missing else cmr_date,
        wma=wma,
        lge_present=lge,
        native_t1_ms=round(float(t1 + (t1_shift if lge or phenotype == "non_ischaemic" else 0.0)), 1),
        t2_ms=round(float(t2 + (10.0 if acute else 0.0)), 1),
        ecv_pct=round(float(ecv + (ecv_shift if lge else 0.0)), 1),
        acute=acute,
        studies=studies,
    )


def simulate_subject_rows(index: int, seed: int = 0) -> PairedEchoSubject:
    """Subject ``index`` of the cohort with ``seed``, table rows only (the videos are not simulated)."""
    return draw_subject(np.random.default_rng([seed, index, 11]), index)


def write_paired_echo_cohort(
    out_dir: str | Path,
    n: int = 400,
    seed: int = 0,
    first_index: int = 0,
    *,
    tissue_effect: float = 0.0,
    n_frames: int = 64,
    matrix: int = 112,
) -> Path:
    """Simulate subjects ``first_index .. first_index + n - 1`` and write them as echo-cmr tables.

    Args:
        out_dir: the folder to create (replaced if it exists); it appears only
            when complete.
        n, seed, first_index: which subjects; a second call with
            ``first_index=n`` gives new subjects (no ID in common).
        tissue_effect: myocardial echogenicity shift per abnormal tissue label
            (see :func:`simulate_echo`); 0 = tissue invisible in the video.
        n_frames: frames per video (50 frames/s; 64 = 1.28 s).
        matrix: video size in pixels (square).

    Returns:
        ``out_dir`` as a Path.
    """
    if n < 1 or first_index < 0:
        raise UsageError(f"the cohort needs at least 1 subject and first_index >= 0, got n={n}, first_index={first_index}")
    out = Path(out_dir)
    cmr_rows, echo_rows, truth_rows = [], [], []
    with atomic_dir(out) as tmp:
        (tmp / "SIMULATED_DATA.txt").write_text(SIMULATED_NOTICE + "\n", encoding="utf-8")
        (tmp / "videos").mkdir()
        for index in range(first_index, first_index + n):
            rng = np.random.default_rng([seed, index, 11])
            subject = draw_subject(rng, index)
            first_clip = None
            for _, name in subject.file_names():
                clip = simulate_echo(
                    rng, subject.subject_id, wma=subject.wma, tissue_abnormal=subject.tissue_abnormal(),
                    tissue_effect=tissue_effect, n_frames=n_frames, matrix=matrix,
                )
                write_video(clip, tmp / name)
                first_clip = first_clip or clip
            meta = first_clip.metadata if first_clip is not None else {}
            cmr_rows.append(subject.cmr_row())
            echo_rows.extend(subject.echo_rows())
            truth_rows.append({"subject_id": subject.subject_id, "phenotype": subject.phenotype,
                               "wma_segment": meta.get("wma_segment") or "", "ef_pct": meta.get("ef_pct")})
        pd.DataFrame(cmr_rows, columns=list(CMR_COLUMNS)).to_csv(tmp / "cmr.csv", index=False)
        pd.DataFrame(echo_rows, columns=list(ECHO_COLUMNS)).to_csv(tmp / "echo.csv", index=False)
        pd.DataFrame(truth_rows).to_csv(tmp / "truth.csv", index=False)
    return out


__all__ = [
    "PairedEchoSubject",
    "draw_subject",
    "simulate_subject_rows",
    "subject_id_for",
    "write_paired_echo_cohort",
]
