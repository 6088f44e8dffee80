import json

import pytest

from cardiolens.cli.app import main


def test_help_and_version_exit_zero(capsys):
    assert main(["--help"]) == 0
    assert "data" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert "cardiolens" in capsys.readouterr().out


def test_bad_usage_exits_2(capsys):
    assert main(["data", "inspect", "--no-such-option"]) == 2
    assert main(["data", "synth", "--out", "x", "--n", "0"]) == 2


def test_bad_input_exits_2_naming_the_file(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["data", "inspect", str(missing)]) == 2
    assert "nowhere" in capsys.readouterr().err
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "notes.txt").write_text("hello")
    assert main(["data", "inspect", str(odd)]) == 2
    assert "no known dataset layout" in capsys.readouterr().err


def test_internal_error_exits_1(monkeypatch, tmp_path, capsys):
    import cardiolens.io.inspect as inspect_module

    def boom(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(inspect_module, "inspect_path", boom)
    assert main(["data", "inspect", str(tmp_path)]) == 1
    assert "internal error" in capsys.readouterr().err


def test_synth_then_inspect_json(tmp_path, capsys):
    out = tmp_path / "cohort"
    assert main(["data", "synth", "--out", str(out), "--n", "5", "--seed", "2"]) == 0
    assert "SIMULATED" in capsys.readouterr().out
    assert main(["data", "inspect", str(out), "--json", "--load", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["layout"] == "synthetic" and summary["simulated"] is True
    assert summary["n_subjects"] == 5
    assert summary["classes"] == {"DCM": 1, "HCM": 1, "MINF": 1, "NOR": 1, "RV": 1}
    cine = summary["examples"]["SIM0001"]["cine"]
    assert cine["label_values"] == [0, 1, 2, 3] and cine["spacing_known"] is True
    # the forced-layout prefix gives the same answer
    assert main(["data", "inspect", f"synthetic:{out}", "--json", "--load", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["n_subjects"] == 5


@pytest.mark.parametrize("layout", ["acdc", "emidec", "ptbxl"])
def test_inspect_real_datasets(shared_data, layout, capsys):
    expected = {
        "acdc": (60, {"DCM": 12, "HCM": 12, "MINF": 12, "NOR": 12, "RV": 12}),
        "emidec": (67, {"MI": 45, "normal": 22}),
        "ptbxl": (353, {"LVH": 20, "no_LVH": 333}),
    }[layout]
    assert main(["data", "inspect", str(shared_data / layout), "--json", "--load", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["layout"] == layout
    assert (summary["n_subjects"], summary["classes"]) == expected
    assert summary["bad_cases"] == []


def test_synth_first_index_gives_a_disjoint_cohort(tmp_path, capsys):
    out = tmp_path / "later"
    assert main(["data", "synth", "--out", str(out), "--n", "2", "--seed", "2", "--first-index", "5"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["SIM0006", "SIM0007"]


def test_crossval_and_variant_errors_exit_2(tmp_path, capsys):
    assert main(["crossval", "ecg2lvm", "--data", str(tmp_path), "--out", str(tmp_path / "cv")]) == 2
    assert "no cross-validation" in capsys.readouterr().err
    assert main(["train", "nicm", "--data", str(tmp_path), "--out", str(tmp_path / "m"), "--set", "variant=transformer"]) == 2
    assert "unknown nicm variant" in capsys.readouterr().err


def test_synth_echo_pairs_then_inspect(tmp_path, capsys):
    out = tmp_path / "echo"
    assert main(["data", "synth", "--kind", "echo", "--out", str(out), "--n", "3", "--seed", "2"]) == 0
    assert "SIMULATED" in capsys.readouterr().out
    assert {"cmr.csv", "echo.csv", "SIMULATED_DATA.txt"} <= {p.name for p in out.iterdir()}
    assert main(["data", "inspect", str(out), "--json", "--load", "0"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["layout"] == "echo-cmr" and summary["n_subjects"] == 3
    assert main(["data", "synth", "--kind", "video", "--out", str(tmp_path / "x")]) == 2
