"""Pruebas de vpc2.models: conteos exactos de parámetros, estructura y salidas idénticas a torchvision,
tamaños de entrada, profundidad estocástica y errores con mensajes en castellano. Corren sin red."""
import os
from urllib.parse import urlparse

import pytest
import torch
import torchvision
from torch import nn
from torch.testing import assert_close

from vpc2.models import (MODEL_BUILDERS, EFFICIENTNET_VARIANTS, alexnet, check_image_batch, count_macs, count_params,
                         create_model, efficientnet, efficientnet_b0, googlenet, lenet5, load_torchvision_weights,
                         on_meta, resnet, resnet18, resnet34, stochastic_depth, vgg, vgg16)

# Los números de la consigna (los que publica torchvision en los metadatos de sus pesos).
EXPECTED_PARAMS = {
    "alexnet": 61_100_840, "vgg11": 132_863_336, "vgg16": 138_357_544, "vgg16_bn": 138_365_992, "vgg19": 143_667_240,
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "googlenet": 6_624_904,
    "efficientnet_b0": 5_288_548,
}
TORCHVISION_NAMES = [name for name in MODEL_BUILDERS if name != "lenet5"]   # lenet5 no está en torchvision


def tv_kwargs(name: str) -> dict:
    "GoogLeNet de torchvision: sin cabezas auxiliares (como la nuestra por defecto); init_weights explícito evita su aviso."
    return dict(aux_logits=False, init_weights=False) if name == "googlenet" else {}


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    "Estadísticas y afinidad de BatchNorm al azar: recién creadas valen 0/1 y no pondrían a prueba los buffers."
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


def ours_with_weights_of(theirs: nn.Module, name: str, **kwargs) -> nn.Module:
    "Nuestra red, construida sin inicializar (meta → memoria vacía) y con los pesos de `theirs` copiados."
    ours = on_meta(create_model, name, **kwargs).to_empty(device="cpu")
    return load_torchvision_weights(ours, theirs)


# ---------------------------------------------------------------- conteos y estructura

@pytest.mark.parametrize("name,expected", EXPECTED_PARAMS.items())
def test_param_counts_match_issue_and_torchvision(name, expected):
    assert count_params(on_meta(create_model, name)) == expected
    theirs = on_meta(torchvision.models.get_model, name, weights=None, **tv_kwargs(name))
    assert count_params(theirs) == expected


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_state_dict_names_and_shapes_match_torchvision(name):
    ours = on_meta(create_model, name).state_dict()
    theirs = on_meta(torchvision.models.get_model, name, weights=None, **tv_kwargs(name)).state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}


def test_googlenet_with_aux_heads_matches_torchvision_structure():
    ours = on_meta(googlenet, aux_logits=True).state_dict()
    theirs = on_meta(torchvision.models.googlenet, aux_logits=True, init_weights=False).state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}


def test_lenet5_params_by_hand():
    # conv 6·(5·5·1+1) + conv 16·(5·5·6+1) + 400·120+120 + 120·84+84 + 84·10+10
    assert count_params(lenet5()) == 156 + 2416 + 48_120 + 10_164 + 850 == 61_706


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "resnet18", "resnet50", "googlenet", "efficientnet_b0"])
def test_macs_match_torchvision_metadata(name):
    "torchvision publica los GFLOPs (en realidad GMACs) a 224×224; torchinfo cuenta además sesgos y BN."
    published = torchvision.models.get_model_weights(name).DEFAULT.meta["_ops"]
    assert count_macs(on_meta(create_model, name)) / 1e9 == pytest.approx(published, rel=0.02)


# ---------------------------------------------------------------- salidas idénticas

@pytest.mark.parametrize("name,size", [("alexnet", 64), ("vgg16", 64), ("vgg16_bn", 32), ("resnet18", 64),
                                       ("resnet34", 64), ("resnet50", 64), ("googlenet", 64),
                                       ("efficientnet_b0", 64)])
def test_same_outputs_as_torchvision_in_eval(name, size):
    torch.manual_seed(0)
    theirs = randomize_batchnorm(torchvision.models.get_model(name, weights=None, **tv_kwargs(name))).eval()
    ours = ours_with_weights_of(theirs, name).eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected = theirs(x)
        assert_close(ours(x), expected)
    assert expected.shape == (2, 1000)
    assert expected.std() > 0   # salidas no triviales


def test_same_outputs_in_training_mode_resnet():
    "En entrenamiento BatchNorm usa las estadísticas del lote: también tienen que coincidir."
    torch.manual_seed(0)
    theirs = torchvision.models.resnet18(weights=None).train()
    ours = ours_with_weights_of(theirs, "resnet18").train()
    x = torch.randn(4, 3, 64, 64)
    assert_close(ours(x), theirs(x))
    assert_close(ours.bn1.running_mean, theirs.bn1.running_mean)   # y actualizan igual las estadísticas


def test_same_outputs_in_training_mode_efficientnet_with_same_seed():
    "Profundidad estocástica y dropout consumen el generador en el mismo orden que torchvision."
    torch.manual_seed(0)
    theirs = torchvision.models.efficientnet_b0(weights=None).train()
    ours = ours_with_weights_of(theirs, "efficientnet_b0").train()
    x = torch.randn(8, 3, 64, 64)
    torch.manual_seed(123); expected = theirs(x)
    torch.manual_seed(123); got = ours(x)
    assert_close(got, expected)
    torch.manual_seed(124); other = ours(x)
    assert not torch.allclose(other, got)   # la prueba anterior no es trivial: otra semilla cambia la salida


def test_googlenet_aux_heads_match_torchvision_in_training():
    torch.manual_seed(0)
    theirs = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False, dropout=0.0,
                                          dropout_aux=0.0).train()
    ours = ours_with_weights_of(theirs, "googlenet", aux_logits=True, dropout=0.0).train()
    for m in ours.modules():   # nuestra cabeza auxiliar recibe el dropout por el constructor de GoogLeNet
        if isinstance(m, nn.Dropout): m.p = 0.0
    x = torch.randn(2, 3, 64, 64)
    got, expected = ours(x), theirs(x)
    for a, b in zip(got, expected): assert_close(a, b)
    assert got._fields == ("logits", "aux_logits2", "aux_logits1")
    ours.eval()
    assert isinstance(ours(x), torch.Tensor)


def test_googlenet_transform_input_matches_torchvision():
    torch.manual_seed(0)
    theirs = randomize_batchnorm(torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False,
                                                              transform_input=True)).eval()
    ours = ours_with_weights_of(theirs, "googlenet", transform_input=True).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad(): assert_close(ours(x), theirs(x))


def test_timm_resnet18_weights_load_into_ours():
    timm = pytest.importorskip("timm")
    theirs = randomize_batchnorm(timm.create_model("resnet18", pretrained=False)).eval()
    ours = load_torchvision_weights(resnet18(), theirs).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad(): assert_close(ours(x), theirs(x))


def test_stochastic_depth_matches_torchvision():
    from torchvision.ops import stochastic_depth as tv_stochastic_depth
    x = torch.randn(50, 3, 4, 4)
    torch.manual_seed(5); ours = stochastic_depth(x, 0.4)
    torch.manual_seed(5); theirs = tv_stochastic_depth(x, 0.4, "row")
    assert_close(ours, theirs)
    assert stochastic_depth(x, 0.4, training=False) is x
    assert_close(stochastic_depth(x, 1.0), torch.zeros_like(x))


# ---------------------------------------------------------------- tamaños de entrada

FAMILIES = ["lenet5", "alexnet", "vgg16", "vgg19_bn", "googlenet", "resnet18", "resnet50", "efficientnet_b0"]


@pytest.mark.parametrize("name", FAMILIES)
def test_any_size_gets_through_full_width_on_meta(name):
    "Formas con la red completa (en meta, sin calcular): el pooling adaptativo deja pasar cualquier tamaño."
    model = on_meta(create_model, name, num_classes=7).eval()
    for size in (64, 224, 300):
        x = torch.empty(1, model.in_channels, size, size, device="meta")
        assert model(x).shape == (1, 7)


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "vgg11_bn", "googlenet", "resnet18", "resnet50", "efficientnet_b0"])
def test_any_size_gets_through_for_real(name):
    "Cálculo real en CPU con redes angostas (width_mult=0.25) para que sea rápido."
    kwargs = dict(in_channels=3) if name == "lenet5" else dict(width_mult=0.25)
    torch.manual_seed(0)
    model = create_model(name, num_classes=7, **kwargs).eval()
    with torch.no_grad():
        outs = [model(torch.rand(1, 3, s, s)) for s in (64, 224, 300)]
    for out in outs:
        assert out.shape == (1, 7) and torch.isfinite(out).all()


@pytest.mark.parametrize("name,min_size", [("lenet5", 16), ("alexnet", 63), ("vgg11", 32), ("googlenet", 15),
                                           ("resnet18", 1), ("efficientnet_b0", 1)])
def test_minimum_size_is_real(name, min_size):
    model = on_meta(create_model, name).eval()
    channels = model.in_channels
    assert model.min_size == min_size
    assert model(torch.empty(1, channels, min_size, min_size, device="meta")).shape[0] == 1
    if min_size > 1:
        small = torch.empty(1, channels, min_size - 1, min_size - 1, device="meta")
        with pytest.raises(ValueError, match=f"al menos {min_size}×{min_size}"):
            model(small)
        with pytest.raises(RuntimeError):   # sin nuestra verificación, PyTorch falla: el mínimo no es arbitrario
            model._forward(small)


def test_grey_images_with_in_channels_1():
    model = resnet18(num_classes=3, in_channels=1, width_mult=0.25).eval()
    with torch.no_grad(): assert model(torch.rand(2, 1, 28, 28)).shape == (2, 3)
    assert lenet5()(torch.rand(2, 1, 32, 32)).shape == (2, 10)


def test_width_mult_shrinks_and_one_is_identity():
    assert count_params(on_meta(resnet18, width_mult=1.0)) == EXPECTED_PARAMS["resnet18"]
    narrow = count_params(on_meta(resnet18, width_mult=0.5))
    assert narrow < EXPECTED_PARAMS["resnet18"] / 3


# ---------------------------------------------------------------- errores

@pytest.mark.parametrize("x,match", [
    (torch.rand(3, 64, 64), r"x\.unsqueeze\(0\)"),
    (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), r"x\.float\(\) / 255"),
    (torch.rand(1, 1, 64, 64), r"in_channels=1.*x\.expand"),
    (torch.rand(1, 3, 40, 40), r"al menos 63×63"),
    (torch.rand(64, 64), r"lote 4D"),
])
def test_bad_inputs_explain_the_fix(x, match):
    with pytest.raises((ValueError, TypeError), match=match):
        alexnet(width_mult=0.25)(x)


def test_non_tensor_input():
    with pytest.raises(TypeError, match="torch.Tensor"):
        check_image_batch([[0.0]], 3)


@pytest.mark.parametrize("build,match", [
    (lambda: resnet18(num_classes=0), "num_classes debe ser un entero positivo"),
    (lambda: alexnet(in_channels=0), "in_channels debe ser un entero positivo"),
    (lambda: vgg16(width_mult=-1), "width_mult debe ser un número positivo"),
    (lambda: vgg(15), r"elegí una de \[11, 13, 16, 19\]"),
    (lambda: resnet(20), r"elegí una de \[18, 34, 50, 101, 152\]"),
    (lambda: efficientnet("b9"), "Variante de EfficientNet desconocida"),
    (lambda: efficientnet("b0", depth_mult=0), "depth_mult"),
    (lambda: create_model("resnt18"), "¿Quisiste decir resnet18"),
])
def test_bad_builder_arguments(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_loading_mismatched_weights_explains():
    with pytest.raises(KeyError, match="Las claves no coinciden"):
        load_torchvision_weights(on_meta(resnet34), on_meta(torchvision.models.resnet18))
    with pytest.raises(ValueError, match="num_classes=1000"):
        load_torchvision_weights(on_meta(resnet18, num_classes=5), on_meta(torchvision.models.resnet18))
    with pytest.raises(TypeError, match="No sé leer pesos"):
        load_torchvision_weights(resnet18(), "pesos.pt")


def test_weights_enum_loads_from_the_hub_cache_without_network(tmp_path, monkeypatch):
    "El camino con red (un enum de pesos de torchvision) probado sin red: el archivo ya está en la caché de torch.hub."
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    source = resnet18()
    (tmp_path / "checkpoints").mkdir()
    torch.save(source.state_dict(), tmp_path / "checkpoints" / os.path.basename(urlparse(weights.url).path))
    # monkeypatch devuelve `_hub_dir` a su valor crudo (None): con set_dir(get_dir()) quedaría fijo y
    # torch.hub ignoraría TORCH_HOME en las pruebas siguientes, escribiendo en la caché real del usuario.
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    target = load_torchvision_weights(on_meta(resnet18).to_empty(device="cpu"), weights)
    assert_close(target.fc.weight, source.fc.weight)
    assert_close(target.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var)


def test_key_map_renames_keys():
    source = resnet18(width_mult=0.25, num_classes=3)
    renamed = {"backbone." + k: v for k, v in source.state_dict().items()}
    with pytest.raises(KeyError):
        load_torchvision_weights(resnet18(width_mult=0.25, num_classes=3), renamed)
    target = load_torchvision_weights(resnet18(width_mult=0.25, num_classes=3), renamed,
                                      key_map=lambda k: k.removeprefix("backbone."))
    assert_close(target.fc.weight, source.fc.weight)
    as_dict = {k: k.removeprefix("backbone.") for k in renamed}
    target = load_torchvision_weights(resnet18(width_mult=0.25, num_classes=3), renamed, key_map=as_dict)
    assert_close(target.conv1.weight, source.conv1.weight)


def test_efficientnet_variants_follow_published_coefficients():
    "B5–B7 usan BatchNorm con eps=1e-3 como torchvision; el dropout de la cabeza sigue la tabla."
    for variant in ("b0", "b4", "b5"):   # la frontera de eps está entre B4 y B5
        dropout = EFFICIENTNET_VARIANTS[variant][3]
        model = on_meta(efficientnet, variant)
        assert model.classifier[0].p == dropout
        eps = {m.eps for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
        assert eps == ({1e-3} if variant in ("b5", "b6", "b7") else {1e-5})
    assert len([m for m in efficientnet_b0().modules() if m.__class__.__name__ == "MBConv"]) == 16
