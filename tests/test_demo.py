import json

from cardiolens.demo import run_demo


def test_demo_end_to_end_small(tmp_path):
    result = run_demo(tmp_path / "demo", n_subjects=5, seed=1)
    html = result.report_path.read_text()
    assert "SIMULATED DATA" in html and html.count("<img") >= 6
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["detected_layout"] == "synthetic"
    assert summary["n_read_back"] == 5 and summary["bad_cases"] == []
    assert summary["classes"] == {"DCM": 1, "HCM": 1, "MINF": 1, "NOR": 1, "RV": 1}
    by_format = {row["format"]: row for row in summary["round_trip"]}
    assert by_format["nifti"]["cine_rel_error"] == 0.0
    assert by_format["dicom"]["cine_rel_error"] <= 1 / 65535 + 1e-9
    assert by_format["dicom"]["cine_affine_error_mm"] < 1e-3
    assert by_format["dicom"]["cine_labels_equal"] == 1.0
    # the ecg2lvm step trained, evaluated on separate subjects and explained
    ecg2lvm = summary["ecg2lvm"]
    assert {"lv_mass_pearson_r", "auc_cnn", "auc_any_rule", "delong_p_any_rule"} <= set(ecg2lvm["metrics"])
    assert ecg2lvm["metrics"]["lv_mass_pearson_r"]["ci"] is not None
    assert (tmp_path / "demo" / "ecg2lvm_evaluation" / "metrics.json").exists()
    # the cine-seg + nicm step segmented, classified separate subjects, predicted and explained one
    nicm = summary["nicm"]
    assert set(nicm["nicm_metrics"]) == {"accuracy", "balanced_accuracy", "macro_auc"}
    assert 0.0 <= nicm["cine_seg_metrics"]["dice_lv"]["value"] <= 1.0
    assert nicm["prediction"]["predicted"] in {"DCM", "HCM", "MINF", "NOR", "RV"}
    assert (tmp_path / "demo" / "nicm_explain" / "gradcam.gif").exists()
    # the echo2cmr step trained on simulated pairs, evaluated on other subjects and explained one clip
    echo = summary["echo2cmr"]
    assert echo["simulated"] is True and set(echo["metrics"]) == {f"auc_{k}" for k in ("wma", "lge", "t1", "t2", "ecv")}
    assert echo["metrics"]["auc_wma"]["ci"] is not None and echo["n_pairs"] > 0
    assert (tmp_path / "demo" / "echo2cmr_explain" / "saliency_wma.gif").exists()
    # the scar-pattern step fine-tuned Lite0 on simulated maps, evaluated other subjects against their abnormal myocardium
    scar = summary["scar_pattern"]
    assert scar["simulated"] is True and scar["metrics"]["accuracy"]["ci"] is not None
    assert 0.0 <= scar["metrics"]["scar_pointing_game"]["value"] <= 1.0
    assert sum(map(sum, scar["confusion_matrix"]["rows_true_columns_predicted"])) == scar["n_eval_subjects"]
    assert (tmp_path / "demo" / "scar_pattern_explain" / "activations.png").exists()
    # the lge step trained a small 3-D U-Net on simulated HCM stacks, evaluated it and 5SD on other subjects, predicted and explained one
    lge = summary["lge"]
    assert lge["simulated"] is True and lge["unet3d"]["dice_myocardium"]["ci"] is not None
    assert lge["nsd_in_manual_myocardium"]["dice_myocardium"]["value"] == 1.0  # the manual myocardium, scored against itself
    assert 0.0 <= lge["unet3d"]["burden_over_15pct_accuracy"]["value"] <= 1.0
    assert (tmp_path / "demo" / "lge_predict" / "predictions.csv").exists()
    assert any((tmp_path / "demo" / "lge_explain").glob("gradcam_slice_*.png"))
