"""12-lead ECG container: signals in mV with lead names and sampling rate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cardiolens.data._checks import require_finite
from cardiolens.data.labels import STANDARD_LEADS
from cardiolens.errors import LeadConfigurationError

_LEAD_ALIASES = {name.upper(): name for name in STANDARD_LEADS}
_LEAD_ALIASES.update({"AVR": "aVR", "AVL": "aVL", "AVF": "aVF"})


def normalise_lead_name(name: str) -> str:
    """Map spellings such as 'AVL', 'avl', 'V1 ' to the standard name ('aVL', 'V1')."""
    key = name.strip().upper().replace("LEAD ", "").replace("-", "")
    return _LEAD_ALIASES.get(key, name.strip())


@dataclass(eq=False)
class ECG12:
    """A standard 12-lead ECG.

    Attributes:
        signal_mv: voltages in millivolts, shape (n_samples, 12), columns in
            :data:`cardiolens.data.labels.STANDARD_LEADS` order.
        fs_hz: sampling frequency in Hz.
        lead_names: always ``STANDARD_LEADS`` after construction; inputs in any
            order/spelling are reordered by :meth:`from_leads`.
        subject_id, source, metadata: identity, provenance, extras (age, sex...).
    """

    signal_mv: np.ndarray
    fs_hz: float
    lead_names: tuple[str, ...] = STANDARD_LEADS
    subject_id: str = ""
    source: str = "<memory>"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.signal_mv = np.asarray(self.signal_mv, dtype=np.float32)
        if self.signal_mv.ndim != 2:
            raise LeadConfigurationError(self.source, f"ECG must be 2-D (samples, leads), got {self.signal_mv.shape}")
        if self.signal_mv.shape[1] != 12:
            raise LeadConfigurationError(
                self.source, f"expected 12 leads, got {self.signal_mv.shape[1]}"
            )
        self.lead_names = tuple(normalise_lead_name(n) for n in self.lead_names)
        if self.lead_names != STANDARD_LEADS:
            raise LeadConfigurationError(
                self.source,
                f"leads must be {', '.join(STANDARD_LEADS)} in that order, got {', '.join(self.lead_names)}"
                " (use ECG12.from_leads to reorder)",
            )
        if not np.isfinite(self.fs_hz) or self.fs_hz <= 0:
            raise LeadConfigurationError(self.source, f"sampling frequency must be positive, got {self.fs_hz}")
        require_finite(self.signal_mv, self.source, "ECG signal")

    @classmethod
    def from_leads(
        cls,
        signal_mv: np.ndarray,
        lead_names: Sequence[str],
        fs_hz: float,
        **kwargs: Any,
    ) -> ECG12:
        """Build from columns in any order/spelling; extra leads (e.g. Frank X/Y/Z) are dropped."""
        source = str(kwargs.get("source", "<memory>"))
        signal = np.asarray(signal_mv)
        names = [normalise_lead_name(n) for n in lead_names]
        if signal.ndim != 2 or signal.shape[1] != len(names):
            raise LeadConfigurationError(
                source, f"signal shape {signal.shape} does not match {len(names)} lead names"
            )
        missing = [lead for lead in STANDARD_LEADS if lead not in names]
        if missing:
            raise LeadConfigurationError(
                source, f"missing lead(s) {', '.join(missing)}; found {', '.join(names)}"
            )
        order = [names.index(lead) for lead in STANDARD_LEADS]
        return cls(signal_mv=signal[:, order], fs_hz=fs_hz, **kwargs)

    @property
    def n_samples(self) -> int:
        return int(self.signal_mv.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs_hz

    def lead(self, name: str) -> np.ndarray:
        """One lead's voltages in mV."""
        return self.signal_mv[:, STANDARD_LEADS.index(normalise_lead_name(name))]
