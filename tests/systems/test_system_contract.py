"""The shared system contract: config overrides, model directories, metrics.json, CLI dispatch."""

import json
from dataclasses import dataclass

import pandas as pd
import pytest

from cardiolens.cli.app import main
from cardiolens.errors import DataError, MissingDataError, UsageError
from cardiolens.report.html import HtmlReport
from cardiolens.stats.estimate import Estimate
from cardiolens.systems import SYSTEMS, system_module
from cardiolens.systems.config import parse_overrides, resolve_config
from cardiolens.systems.evaluation import metrics_document, write_evaluation
from cardiolens.systems.model_dir import (
    ModelCard,
    model_dir_writer,
    read_card,
    refuse_trained_subjects,
    require_system,
)


@dataclass(frozen=True)
class _Config:
    epochs: int = 10
    lr: float = 1e-3
    variant: str = "fused"


def test_overrides_parse_types_and_reject_unknown_keys(tmp_path):
    assert parse_overrides(["epochs=3", "lr=0.5", "variant=cine", "flag=true"]) == {"epochs": 3, "lr": 0.5, "variant": "cine", "flag": True}
    file = tmp_path / "c.toml"
    file.write_text('epochs = 4\nvariant = "ivpg"\n')
    config = resolve_config(_Config(), file, ["epochs=7"])
    assert config == _Config(epochs=7, lr=1e-3, variant="ivpg")  # --set wins over the file
    with pytest.raises(UsageError, match="unknown config key"):
        resolve_config(_Config(), None, ["epoch=3"])
    with pytest.raises(UsageError, match="key=value"):
        parse_overrides(["epochs"])
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(DataError, match="bad.json"):
        resolve_config(_Config(), bad)


def test_model_dir_round_trip_and_leakage_guard(tmp_path):
    card = ModelCard(system="ecg2lvm", config={"epochs": 1}, class_names=["no_LVH", "LVH"], trained_subject_ids=["a", "b"], data={"path": "x"})
    with model_dir_writer(tmp_path / "m", card) as tmp:
        (tmp / "weights.pt").write_bytes(b"w")
    back = read_card(tmp_path / "m")
    assert back.trained_subject_ids == ["a", "b"] and "python" in back.library_versions
    require_system(back, "ecg2lvm", tmp_path / "m")
    with pytest.raises(UsageError, match="not 'lge'"):
        require_system(back, "lge", tmp_path / "m")
    refuse_trained_subjects(back, ["c", "d"], "data")
    with pytest.raises(UsageError, match="1 subject"):
        refuse_trained_subjects(back, ["b", "c"], "data")
    with pytest.raises(MissingDataError, match="model.json"):
        read_card(tmp_path)


def test_failed_training_leaves_no_model_dir(tmp_path):
    card = ModelCard(system="x", config={}, class_names=[], trained_subject_ids=[], data={})
    with pytest.raises(RuntimeError):
        with model_dir_writer(tmp_path / "m", card):
            raise RuntimeError("diverged")
    assert list(tmp_path.iterdir()) == []


def test_metrics_json_contract(tmp_path):
    doc = metrics_document(
        "ecg2lvm", "data", "ptbxl", 12, {"id": "m"},
        {"auc_cnn": Estimate(0.8, 0.7, 0.9), "n_bad": 0, "missing": float("nan")},
    )
    out = write_evaluation(tmp_path / "e", doc, pd.DataFrame({"subject_id": ["a"]}), HtmlReport("t", simulated=False))
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["data"] == {"path": "data", "layout": "ptbxl", "n_subjects": 12}
    assert saved["metrics"]["auc_cnn"] == {"value": 0.8, "ci": [0.7, 0.9]}
    assert saved["metrics"]["missing"] == {"value": None, "ci": None}
    assert (out / "predictions.csv").read_text().startswith("subject_id")
    assert (out / "report.html").exists()


def test_unknown_systems_are_usage_errors(capsys):
    assert set(SYSTEMS) == {"nicm", "cine-seg", "scar-pattern", "lge", "echo2cmr", "ecg2lvm"}  # the five systems + cine-seg
    with pytest.raises(UsageError, match="unknown system"):
        system_module("foo")
    assert main(["evaluate", "foo", "--model", "m", "--data", "d", "--out", "o"]) == 2
    assert "unknown system" in capsys.readouterr().err


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_system_entry_points_stay_functions_after_submodule_imports(system):
    """A submodule named like an entry point would replace it on the package once imported."""
    import importlib
    import inspect
    import pkgutil

    package = system_module(system)
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
    for entry in ("make_config", "train", "evaluate", "predict", "explain"):
        assert inspect.isfunction(getattr(package, entry)), entry
