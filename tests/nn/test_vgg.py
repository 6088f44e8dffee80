"""In-house VGG: torchvision key layout and parameter counts, weight loading and its reports."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from cardiolens.errors import (
    CorruptFileError,
    DataError,
    EmptyFileError,
    MissingDataError,
    UsageError,
)
from cardiolens.nn.vgg import (
    VGG,
    feature_layer_names,
    last_conv,
    load_torchvision_state_dict,
    vgg16,
    vgg19,
)

torch.set_num_threads(1)

# Conv positions in torchvision's features Sequential (conv, ReLU pairs with max-pools between stages).
VGG16_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
VGG19_CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
# Same with BatchNorm (conv, BN, ReLU triples): torchvision's vgg16_bn.
VGG16_BN_CONVS = [0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40]


def expected_keys(convs: list[int], bn_after: bool = False) -> list[str]:
    keys = []
    for i in convs:
        keys += [f"features.{i}.weight", f"features.{i}.bias"]
        if bn_after:
            keys += [f"features.{i + 1}.{n}" for n in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
    for i in (0, 3, 6):
        keys += [f"classifier.{i}.weight", f"classifier.{i}.bias"]
    return keys


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def small(depth: int = 16, **kw: object) -> VGG:
    kw.setdefault("classifier_width", 32)
    return VGG(depth, **kw).eval()  # type: ignore[arg-type]


def test_keys_and_parameter_counts_match_torchvision() -> None:
    # Meta tensors: the full 4096-wide classifiers without allocating 0.5 GB.
    with torch.device("meta"):
        m16, m19, m16bn = vgg16(), vgg19(), vgg16(batch_norm=True)
    assert list(m16.state_dict()) == expected_keys(VGG16_CONVS)
    assert list(m19.state_dict()) == expected_keys(VGG19_CONVS)
    assert list(m16bn.state_dict()) == expected_keys(VGG16_BN_CONVS, bn_after=True)
    assert n_params(m16) == 138_357_544
    assert n_params(m19) == 143_667_240
    assert n_params(m16bn) == 138_365_992
    assert m16.classifier[6].out_features == 1000


def test_last_conv_and_feature_names() -> None:
    with torch.device("meta"):
        m16, m19 = vgg16(classifier_width=8), vgg19(classifier_width=8)
    assert last_conv(m16) is m16.features[28]
    assert last_conv(m19) is m19.features[34]
    assert feature_layer_names(m16) == [f"features.{i}" for i in VGG16_CONVS]


def test_forward_shape_and_bad_arguments() -> None:
    torch.manual_seed(0)
    model = small(19, num_classes=4, in_channels=1)
    with torch.no_grad():
        out = model(torch.randn(2, 1, 32, 32))
    assert out.shape == (2, 4)
    with pytest.raises(UsageError, match="16 or 19"):
        VGG(11)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        VGG(16, num_classes=0)


def test_state_dict_round_trip_through_a_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    a = small(num_classes=5)
    path = tmp_path / "vgg16.pth"
    torch.save(a.state_dict(), path)
    torch.manual_seed(1)
    b = small(num_classes=5)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(a(x), b(x))
        report = load_torchvision_state_dict(b, path)
        assert torch.equal(a(x), b(x))
    assert set(report.loaded) == set(a.state_dict())
    assert not report.skipped and not report.missing and not report.unexpected and not report.adapted


def test_other_class_count_skips_and_reports_the_last_layer(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = small(num_classes=5)
    target = small(num_classes=3)
    before = target.classifier[6].weight.detach().clone()
    report = load_torchvision_state_dict(target, {"module." + k: v for k, v in source.state_dict().items()})
    assert report.skipped == {"classifier.6.weight": "shape (5, 32) vs (3, 32)", "classifier.6.bias": "shape (5,) vs (3,)"}
    assert "classifier.6.weight" not in report.loaded
    assert torch.equal(target.classifier[6].weight, before)  # kept its initial values
    assert torch.equal(target.features[28].weight, source.features[28].weight)
    assert "skipped: classifier.6.weight shape (5, 32) vs (3, 32)" in report.summary()


def test_greyscale_model_gets_averaged_rgb_filters() -> None:
    torch.manual_seed(0)
    rgb = small()
    grey = small(in_channels=1)
    report = load_torchvision_state_dict(grey, rgb.state_dict())
    assert report.adapted == ["features.0.weight"]
    assert "features.0.weight" in report.loaded
    # A grey image gives the same first-layer response as the same image copied to R, G and B.
    g = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(grey.features[0](g), rgb.features[0](g.repeat(1, 3, 1, 1)), atol=1e-5)
    two = small(in_channels=2)
    load_torchvision_state_dict(two, rgb.state_dict())
    with torch.no_grad():
        assert torch.allclose(two.features[0](g.repeat(1, 2, 1, 1)), rgb.features[0](g.repeat(1, 3, 1, 1)), atol=1e-5)


def test_smaller_classifier_keeps_conv_weights_and_reports_dense_layers() -> None:
    torch.manual_seed(0)
    source = small(classifier_width=64)
    target = small(classifier_width=16)
    report = load_torchvision_state_dict(target, source.state_dict())
    dense = {f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")}
    assert set(report.skipped) == dense - {"classifier.6.bias"}  # same class count: that bias fits
    assert len(report.loaded) == 27  # the 13 convolutions' weights and biases + classifier.6.bias


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_bad_files_raise_data_errors_naming_the_file(tmp_path: Path) -> None:
    model = small()
    not_vgg = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(2, 2), "fc.bias": torch.zeros(2)}, not_vgg)
    with pytest.raises(MissingDataError, match="no VGG parameters") as info:
        load_torchvision_state_dict(model, not_vgg)
    assert str(not_vgg) in str(info.value)

    a_list = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], a_list)
    with pytest.raises(MissingDataError, match="not a state dict"):
        load_torchvision_state_dict(model, a_list)

    text = tmp_path / "weights.pth"
    text.write_text("these are not weights\n")
    with pytest.raises(CorruptFileError, match="weights.pth"):
        load_torchvision_state_dict(model, text)

    # weights_only=True refuses arbitrary pickled objects instead of running them.
    pickled = tmp_path / "object.pth"
    pickled.write_bytes(pickle.dumps(Path("x")))
    with pytest.raises(CorruptFileError):
        load_torchvision_state_dict(model, pickled)

    empty = tmp_path / "empty.pth"
    empty.touch()
    with pytest.raises(EmptyFileError):
        load_torchvision_state_dict(model, empty)
    with pytest.raises(DataError, match="does not exist"):
        load_torchvision_state_dict(model, tmp_path / "absent.pth")


def test_shape_mismatch_everywhere_raises() -> None:
    # VGG names, but nothing fits (e.g. a VGG11 file): an error, not a silently untouched model.
    odd = {"features.0.weight": torch.zeros(8, 3, 5, 5)}
    with pytest.raises(MissingDataError, match="no parameter matches"):
        load_torchvision_state_dict(small(), odd)
