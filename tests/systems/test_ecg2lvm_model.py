"""ecg2lvm network, loss, training, ONNX export, prediction and saliency."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cardiolens.nn.ecg_resnet import EcgResNet1d
from cardiolens.systems.ecg2lvm.config import Ecg2LvmConfig
from cardiolens.systems.ecg2lvm.data import load_dataset
from cardiolens.systems.ecg2lvm.model import Normalisation, augment, multitask_loss
from cardiolens.systems.ecg2lvm.prediction import (
    load_model,
    predict,
    predict_dataset,
    raw_outputs,
)
from cardiolens.systems.ecg2lvm.training import train
from cardiolens.systems.model_dir import read_card

from .test_ecg2lvm_data import write_mini_cohort

TINY = {"epochs": 1, "width": 8, "depth": 2, "batch_size": 4, "patience": 1}


@pytest.mark.parametrize("n_tabular", [0, 3])
def test_network_output_shapes(n_tabular: int) -> None:
    net = EcgResNet1d(width=8, depth=3, n_tabular=n_tabular).eval()
    x = torch.randn(5, 12, 1000)
    tab = torch.randn(5, 6) if n_tabular else None
    mass, logit = net(x, tab)
    assert mass.shape == (5,) and logit.shape == (5,)
    if n_tabular:
        with pytest.raises(ValueError, match="tabular"):
            net(x, None)


def test_multitask_loss_ignores_missing_labels() -> None:
    mass_pred = torch.tensor([1.0, 2.0, 0.0])
    logit = torch.tensor([0.0, 0.0, 0.0])
    mass_t = torch.tensor([0.0, float("nan"), float("nan")])
    lvh_t = torch.tensor([float("nan"), 1.0, 0.0])
    total, mass_loss, lvh_loss = multitask_loss(mass_pred, logit, mass_t, lvh_t)
    assert mass_loss.item() == pytest.approx(1.0)  # only the first subject: (1 - 0)^2
    assert lvh_loss.item() == pytest.approx(math.log(2))  # BCE at logit 0
    assert total.item() == pytest.approx(1.0 + math.log(2))
    _, none_mass, _ = multitask_loss(mass_pred, logit, torch.full((3,), float("nan")), lvh_t)
    assert none_mass.item() == 0.0


def test_normalisation_mass_round_trip_and_tabular_masks() -> None:
    table = pd.DataFrame({"age": [50.0, 70.0, np.nan], "sex": ["M", "F", None], "bmi": [20.0, 30.0, 25.0],
                          "lv_mass_g": [100.0, 200.0, np.nan], "lvh": [0.0, 1.0, 0.0]})
    norm = Normalisation.fit(table)
    assert norm.log_mass_mean == pytest.approx((math.log(100) + math.log(200)) / 2)
    assert norm.lvh_pos_weight == pytest.approx(2.0)
    z = norm.mass_target(np.array([100.0, np.nan]))
    assert np.isnan(z[1]) and norm.mass_g(z[:1])[0] == pytest.approx(100.0)
    tab = norm.tabular(table)
    assert tab.shape == (3, 6)
    assert tab[2, 0] == 0.0 and tab[2, 3] == 1.0 and tab[2, 4] == 1.0  # imputed age and sex, masked
    assert tab[0, 0] == pytest.approx(-1.0)  # (50 - 60) / 10


def test_augment_is_small_and_deterministic() -> None:
    x = torch.randn(3, 12, 1000)
    a = augment(x, 100.0, torch.Generator().manual_seed(0))
    b = augment(x, 100.0, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape
    assert torch.std(a) == pytest.approx(float(torch.std(x)), rel=0.1)


def test_training_steps_decrease_loss_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    net = EcgResNet1d(width=8, depth=2, n_tabular=3)
    x, tab = torch.randn(8, 12, 500), torch.randn(8, 6)
    mass_t, lvh_t = torch.randn(8), (torch.arange(8) % 2).float()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss, _, _ = multitask_loss(*net(x, tab), mass_t, lvh_t)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ecg2lvm")
    write_mini_cohort(root / "cohort", n=12)
    model_dir = train(root / "cohort", root / "model", Ecg2LvmConfig(**TINY))
    return root / "cohort", model_dir


def test_train_writes_a_valid_model_directory(trained: tuple[Path, Path]) -> None:
    _, model_dir = trained
    for name in ("model.json", "weights.pt", "model.onnx", "normalisation.json", "split.json"):
        assert (model_dir / name).is_file(), name
    card = read_card(model_dir)
    split = json.loads((model_dir / "split.json").read_text())
    assert card.system == "ecg2lvm" and card.class_names == ["no_LVH", "LVH"]
    assert card.simulated_training_data is True
    assert sorted(split["train"] + split["val"]) == card.trained_subject_ids
    assert len(card.trained_subject_ids) == 12 and not set(split["train"]) & set(split["val"])
    assert card.config["width"] == 8


def test_onnx_and_eager_agree(trained: tuple[Path, Path]) -> None:
    cohort, model_dir = trained
    model = load_model(model_dir)
    dataset = load_dataset(cohort, model.config)
    tab = model.norm.tabular(dataset.table)
    onnx = raw_outputs(model, dataset.signals, tab, backend="onnx")
    eager = raw_outputs(model, dataset.signals, tab, backend="eager")
    for a, b in zip(onnx, eager):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_predict_dataset_one_row_per_subject(trained: tuple[Path, Path]) -> None:
    cohort, model_dir = trained
    dataset = load_dataset(cohort, load_model(model_dir).config)
    pred = predict_dataset(model_dir, dataset)
    assert pred["subject_id"].tolist() == dataset.subject_ids
    assert ((pred["lvh_probability"] > 0) & (pred["lvh_probability"] < 1)).all()
    assert (pred["lv_mass_g_pred"] > 0).all()
    np.testing.assert_allclose(pred["lv_mass_index_g_m2_pred"], pred["lv_mass_g_pred"] / dataset.table["bsa_m2"])


def test_predict_writes_csv_with_rule_flags(trained: tuple[Path, Path], tmp_path: Path) -> None:
    cohort, model_dir = trained
    csv = predict(model_dir, [str(cohort / "SIM0001" / "ecg.hea")], tmp_path / "out")
    table = pd.read_csv(csv)
    assert len(table) == 1 and table["subject_id"].iloc[0] == "ecg"
    for column in ("lv_mass_g_pred", "lvh_probability", "sokolow_lyon_mv", "sokolow_lyon_rule", "any_rule"):
        assert column in table.columns, column


def test_explain_writes_pngs(trained: tuple[Path, Path], tmp_path: Path) -> None:
    from cardiolens.systems.ecg2lvm.saliency import beat_saliency, explain

    cohort, model_dir = trained
    out = explain(model_dir, str(cohort / "SIM0002" / "ecg"), tmp_path / "explain")
    for name in ("record_lvh", "record_mass", "median_beat_lvh", "median_beat_mass"):
        png = out / f"saliency_{name}.png"
        assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG", name
    maps = np.load(out / "saliency.npz")
    assert maps["lvh"].shape == (12, 1000) and maps["lvh"].max() > 0
    # Beat-wise aggregation: a saliency spike at every R peak lands at t = 0 of the beat.
    sal = np.zeros((12, 1000))
    sal[:, [200, 400, 600]] = 1.0
    beat = beat_saliency(sal, np.array([200, 400, 600]), 100.0, np.array([-100.0, 0.0, 100.0]))
    assert beat[:, 1].tolist() == [1.0] * 12 and beat[:, 0].tolist() == [0.0] * 12


def test_model_without_mass_labels_reports_no_mass(tmp_path):
    """A model trained on LVH labels only (PTB-XL-like) must not print an untrained LV mass."""
    write_mini_cohort(tmp_path / "cohort", n=8)
    dataset = load_dataset(tmp_path / "cohort", Ecg2LvmConfig())
    dataset.table["lv_mass_g"] = np.nan
    dataset.table["lvh"] = [0.0, 1.0] * 4
    model_dir = train(dataset, tmp_path / "m", Ecg2LvmConfig(epochs=1, batch_size=4, width=8, depth=1, augment=False))
    assert read_card(model_dir).data["n_lv_mass_known"] == 0
    predictions = predict_dataset(model_dir, dataset)
    assert predictions["lv_mass_g_pred"].isna().all()
    assert predictions["lvh_probability"].between(0, 1).all()
