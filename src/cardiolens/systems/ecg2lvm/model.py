"""The ``ecg2lvm`` Lightning module: multi-task loss, augmentation and normalisation constants.

Targets:

- LV mass is learnt as the standardised log mass ``z = (ln m - mu) / sd`` (mu, sd
  of the training subjects with known mass): mass is right-skewed and its error
  scales with its size, so a log target gives a relative error loss (MSE on z);
  the prediction is ``m = exp(mu + sd * z)`` in g.
- LVH is learnt with binary cross-entropy on the logit, ``pos_weight`` = negatives
  / positives of the training set (clipped to 1-20) for the rare class.

Early stopping and the kept weights follow the validation mass loss when the
validation subjects have LV mass (the primary output), else the LVH loss.

Each term uses only the subjects whose label is known (NaN = unknown): PTB-XL
has LVH statements but no mass, the simulated cohort has both.

Augmentation (training only, documented so it can be switched off with
``augment=False``): per-record amplitude scale U(0.95, 1.05) (small, since the
voltage carries the mass signal), baseline wander (a 0.05-0.5 Hz sinusoid of
0-0.1 mV per lead) and a random circular time shift of up to 0.5 s.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.nn import functional as F

from cardiolens.nn.ecg_resnet import EcgResNet1d
from cardiolens.systems.ecg2lvm.config import Ecg2LvmConfig

#: Tabular inputs, in order (each followed by a missing-value mask in the input vector).
TABULAR_FEATURES = ("age", "sex", "bmi")
NORMALISATION_FILE = "normalisation.json"


def _mean_sd(values: np.ndarray, default_mean: float, default_sd: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return default_mean, default_sd
    sd = float(np.std(values))
    return float(np.mean(values)), sd if sd > 1e-6 else default_sd


@dataclass
class Normalisation:
    """Constants fitted on the training subjects and needed again at prediction.

    Attributes:
        age_mean, age_sd: years. sex_mean, sex_sd: of the male indicator (M = 1).
        bmi_mean, bmi_sd: kg/m^2. log_mass_mean, log_mass_sd: of ln(LV mass in g).
        lvh_pos_weight: BCE weight of the LVH class.
    """

    age_mean: float = 60.0
    age_sd: float = 15.0
    sex_mean: float = 0.5
    sex_sd: float = 0.5
    bmi_mean: float = 26.0
    bmi_sd: float = 4.0
    log_mass_mean: float = math.log(130.0)
    log_mass_sd: float = 0.3
    lvh_pos_weight: float = 1.0

    @classmethod
    def fit(cls, table: pd.DataFrame) -> Normalisation:
        """Fit on a training table (columns age, sex, bmi, lv_mass_g, lvh); defaults where data are missing."""
        age = _mean_sd(table["age"].to_numpy(float), 60.0, 15.0)
        sex = _mean_sd(_male(table["sex"]), 0.5, 0.5)
        bmi = _mean_sd(table["bmi"].to_numpy(float), 26.0, 4.0)
        mass = table["lv_mass_g"].to_numpy(float)
        log_mass = _mean_sd(np.log(mass[mass > 0]), math.log(130.0), 0.3)
        lvh = table["lvh"].to_numpy(float)
        pos, neg = np.nansum(lvh == 1), np.nansum(lvh == 0)
        weight = float(np.clip(neg / pos, 1.0, 20.0)) if pos > 0 else 1.0
        return cls(*age, *sex, *bmi, *log_mass, weight)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Normalisation:
        return cls(**{k: float(v) for k, v in values.items() if k in cls.__dataclass_fields__})

    def mass_target(self, lv_mass_g: np.ndarray) -> np.ndarray:
        """Standardised log mass; NaN where the mass is unknown."""
        mass = np.asarray(lv_mass_g, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(mass > 0, (np.log(mass) - self.log_mass_mean) / self.log_mass_sd, np.nan)

    def mass_g(self, z: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`mass_target`: LV mass in g."""
        return np.exp(self.log_mass_mean + self.log_mass_sd * np.asarray(z, dtype=float))

    def tabular(self, table: pd.DataFrame) -> np.ndarray:
        """(n, 6) float32: standardised age, male, BMI, then their missing masks (missing -> 0)."""
        columns = [
            (table["age"].to_numpy(float), self.age_mean, self.age_sd),
            (_male(table["sex"]), self.sex_mean, self.sex_sd),
            (table["bmi"].to_numpy(float), self.bmi_mean, self.bmi_sd),
        ]
        values, masks = [], []
        for raw, mean, sd in columns:
            missing = ~np.isfinite(raw)
            values.append(np.where(missing, 0.0, (np.nan_to_num(raw) - mean) / sd))
            masks.append(missing.astype(float))
        return np.stack(values + masks, axis=1).astype(np.float32)


def _male(sex: pd.Series) -> np.ndarray:
    return np.array([1.0 if s == "M" else 0.0 if s == "F" else np.nan for s in sex], dtype=float)


def build_network(config: Ecg2LvmConfig) -> EcgResNet1d:
    """The network the config describes."""
    return EcgResNet1d(
        width=config.width,
        depth=config.depth,
        n_tabular=len(TABULAR_FEATURES) if config.use_tabular else 0,
        dropout=config.dropout,
    )


def multitask_loss(
    mass_pred: Tensor,
    lvh_logit: Tensor,
    mass_target: Tensor,
    lvh_target: Tensor,
    *,
    pos_weight: float = 1.0,
    mass_weight: float = 1.0,
    lvh_weight: float = 1.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """(total, mass MSE, LVH BCE); each term averages over the known labels only (0 when none)."""
    mass_known = torch.isfinite(mass_target)
    lvh_known = torch.isfinite(lvh_target)
    zero = mass_pred.sum() * 0.0  # keeps the graph when a batch has no labels of a kind
    mass_loss = F.mse_loss(mass_pred[mass_known], mass_target[mass_known]) if mass_known.any() else zero
    lvh_loss = (
        F.binary_cross_entropy_with_logits(
            lvh_logit[lvh_known], lvh_target[lvh_known], pos_weight=torch.tensor(pos_weight, dtype=lvh_logit.dtype)
        )
        if lvh_known.any()
        else zero
    )
    return mass_weight * mass_loss + lvh_weight * lvh_loss, mass_loss, lvh_loss


def augment(ecg: Tensor, fs_hz: float, generator: torch.Generator | None = None) -> Tensor:
    """Amplitude scale, baseline wander and a circular time shift (see the module docstring)."""
    batch, leads, n = ecg.shape
    scale = 0.95 + 0.1 * torch.rand(batch, 1, 1, generator=generator)
    t = torch.arange(n, dtype=ecg.dtype) / fs_hz
    freq = 0.05 + 0.45 * torch.rand(batch, leads, 1, generator=generator)
    phase = 2 * math.pi * torch.rand(batch, leads, 1, generator=generator)
    amp = 0.1 * torch.rand(batch, leads, 1, generator=generator)
    out = ecg * scale + amp * torch.sin(2 * math.pi * freq * t + phase)
    max_shift = int(0.5 * fs_hz)
    shifts = torch.randint(-max_shift, max_shift + 1, (batch,), generator=generator)
    return torch.stack([torch.roll(out[i], int(shifts[i]), dims=-1) for i in range(batch)])


class Ecg2LvmModule(L.LightningModule):
    """Lightning wrapper: batches are (ecg, tabular, mass_z, lvh) with NaN for unknown labels."""

    def __init__(self, config: Ecg2LvmConfig, pos_weight: float = 1.0, monitor_mass: bool = False) -> None:
        super().__init__()
        self.config = config
        self.pos_weight = pos_weight
        # Early stopping follows the primary output: mass when labelled, else LVH.
        self.monitor_mass = monitor_mass
        self.network = build_network(config)
        self._generator = torch.Generator().manual_seed(config.seed)

    def forward(self, ecg: Tensor, tabular: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.network(ecg, tabular if self.config.use_tabular else None)

    def _step(self, batch: tuple[Tensor, ...], stage: str) -> Tensor:
        ecg, tabular, mass_z, lvh = batch
        if stage == "train" and self.config.augment:
            ecg = augment(ecg, self.config.fs_hz, self._generator)
        mass_pred, lvh_logit = self(ecg, tabular)
        total, mass_loss, lvh_loss = multitask_loss(
            mass_pred, lvh_logit, mass_z, lvh,
            pos_weight=self.pos_weight, mass_weight=self.config.mass_loss_weight, lvh_weight=self.config.lvh_loss_weight,
        )
        size = ecg.shape[0]
        self.log(f"{stage}_loss", total, on_epoch=True, on_step=False, batch_size=size, prog_bar=stage == "val")
        self.log(f"{stage}_mass_loss", mass_loss, on_epoch=True, on_step=False, batch_size=size)
        self.log(f"{stage}_lvh_loss", lvh_loss, on_epoch=True, on_step=False, batch_size=size)
        monitored = mass_loss if self.monitor_mass else lvh_loss
        self.log(f"{stage}_monitor", monitored, on_epoch=True, on_step=False, batch_size=size)
        return total

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)
