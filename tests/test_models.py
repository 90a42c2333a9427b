"""Pruebas de vpc2.models: conteos exactos de parámetros, estructura y salidas idénticas a torchvision,
tamaños de entrada, profundidad estocástica y errores con mensajes en castellano. Corren sin red."""
import os
from urllib.parse import urlparse

import pytest
import torch
import torchvision
from torch import nn
from torch.testing import assert_close

from vpc2.models import (LENET5_C3_TABLE, MODEL_BUILDERS, EFFICIENTNET_VARIANTS, MaskedConv2d, alexnet, c3_mask,
                         check_image_batch, compound_scaling, count_macs, count_params, create_model, efficientnet,
                         efficientnet_b0, googlenet, lenet5, load_torchvision_weights, on_meta, randomize_batchnorm, resnet,
                         resnet18, resnet34, same_as_torchvision, same_structure_as_torchvision, stochastic_depth, vgg, vgg16)

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
    "torchvision publica `_ops` a 224×224 y su documentación lo llama GFLOPS, pero son GMACs: coinciden con count_macs."
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


# ---------------------------------------------------------------- tallo para imágenes chicas (small_input)

def _first_pool_to_identity(features: nn.Sequential) -> None:
    i = next(i for i, m in enumerate(features) if isinstance(m, nn.MaxPool2d))
    features[i] = nn.Identity()


def _cifar_recipe(name: str) -> nn.Module:
    "La red de torchvision con el tallo para imágenes chicas hecho a mano, como se hace en las versiones para CIFAR."
    tv = torchvision.models.get_model(name, weights=None, **tv_kwargs(name))
    if name.startswith("resnet"):
        tv.conv1, tv.maxpool = nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.Identity()
    elif name == "googlenet":
        from torchvision.models.googlenet import BasicConv2d
        tv.conv1, tv.maxpool1 = BasicConv2d(3, 64, kernel_size=3, stride=1, padding=1), nn.Identity()
    elif name == "alexnet":
        tv.features[0], tv.features[2] = nn.Conv2d(3, 64, 3, 1, 1), nn.Identity()
    elif name.startswith("vgg"):
        _first_pool_to_identity(tv.features)
    elif name.startswith("efficientnet"):
        tv.features[0][0].stride = (1, 1)
        tv.features[2][0].block[1][0].stride = (1, 1)   # la depthwise del primer bloque de la segunda etapa
    return tv


@pytest.mark.parametrize("name", ["alexnet", "googlenet", "resnet18", "resnet50", "efficientnet_b0"])
def test_small_input_equals_torchvision_with_the_cifar_stem(name):
    torch.manual_seed(0)
    ours = on_meta(create_model, name, small_input=True)
    out = same_as_torchvision(ours, _cifar_recipe(name), size=32)
    assert out.shape == (2, 1000) and out.std() > 0


def test_small_input_vgg_features_equal_torchvision_without_the_first_pool():
    "VGG: sólo cambia el extractor (sin el primer max-pooling); se compara el extractor para no sortear la cabeza enorme."
    from torchvision.models.vgg import cfgs, make_layers
    torch.manual_seed(0)
    theirs = randomize_batchnorm(make_layers(cfgs["A"], batch_norm=True)).eval()
    _first_pool_to_identity(theirs)
    ours = on_meta(vgg, 11, True, small_input=True).features.to_empty(device="cpu")
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert_close(ours.eval()(x), theirs(x))
        assert theirs(x).shape == (2, 512, 2, 2)   # cuatro poolings: 32 → 2


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "googlenet", "resnet18", "resnet50", "efficientnet_b0"])
def test_small_input_off_is_still_torchvision_and_on_changes_only_the_stem(name):
    default = on_meta(create_model, name)
    same_structure_as_torchvision(default, name, **tv_kwargs(name))
    assert count_params(on_meta(create_model, name, small_input=False)) == count_params(default)
    small = on_meta(create_model, name, small_input=True)
    assert small.state_dict().keys() == default.state_dict().keys()   # mismos nombres: el resto de los pesos se carga igual
    changed = [k for k, v in small.state_dict().items() if v.shape != default.state_dict()[k].shape]
    assert len(changed) <= 1 and all(k.split(".")[0] in ("conv1", "features") for k in changed), changed


@pytest.mark.parametrize("name,min_size", [("alexnet", 7), ("vgg11", 16), ("googlenet", 4), ("resnet18", 1),
                                           ("efficientnet_b0", 1)])
def test_small_input_minimum_size_is_real(name, min_size):
    model = on_meta(create_model, name, small_input=True).eval()
    assert model.min_size == min_size
    assert model(torch.empty(1, 3, min_size, min_size, device="meta")).shape == (1, 1000)
    if min_size > 1:
        with pytest.raises(RuntimeError):
            model._forward(torch.empty(1, 3, min_size - 1, min_size - 1, device="meta"))


def test_small_input_keeps_resolution_in_resnet():
    "Con el tallo chico, una imagen de 32 px llega a la última etapa con 4×4 posiciones (y no con 1×1)."
    sides = {}
    for small in (False, True):
        model = on_meta(resnet18, small_input=small).eval()
        hook = model.layer4.register_forward_hook(lambda m, i, o, small=small: sides.__setitem__(small, o.shape[-1]))
        model(torch.empty(1, 3, 32, 32, device="meta"))
        hook.remove()
    assert sides == {False: 1, True: 4}


def test_small_input_must_be_bool():
    with pytest.raises(ValueError, match="small_input debe ser True"):
        resnet18(small_input="sí")


@pytest.mark.parametrize("kwargs,match", [(dict(width_mult=0.5), "no tiene multiplicador de ancho"),
                                          (dict(small_input=True), "ya está pensada para imágenes de 32×32"),
                                          (dict(pesos="x"), "Sus argumentos son")])
def test_create_model_rejects_arguments_in_spanish(kwargs, match):
    with pytest.raises(TypeError, match=match):
        create_model("lenet5", **kwargs)
    with pytest.raises(TypeError, match="Sus argumentos son"):
        create_model("resnet18", pesos="x")


# ---------------------------------------------------------------- LeNet-5 del artículo

def test_lenet5_order_is_conv_pool_tanh():
    kinds = [type(m).__name__ for m in lenet5().features]
    assert kinds == ["Conv2d", "AvgPool2d", "Tanh", "Conv2d", "AvgPool2d", "Tanh"]


def test_lenet5_sparse_c3_has_the_papers_1516_parameters():
    assert len(LENET5_C3_TABLE) == 16 and c3_mask().sum() == 6 * 3 + 9 * 4 + 6
    c3 = lenet5(sparse_c3=True).features[3]
    assert isinstance(c3, MaskedConv2d) and c3.active_params() == 1516
    x = torch.randn(2, 6, 14, 14, requires_grad=True)
    c3(x)[:, 15].sum().backward()   # el último mapa ve los 6
    assert (x.grad.abs().sum((0, 2, 3)) > 0).all()
    x.grad = None
    c3(x)[:, 12].sum().backward()   # el mapa 12 ve 0, 1, 3 y 4
    assert (x.grad.abs().sum((0, 2, 3)) > 0).tolist() == [True, True, False, True, True, False]
    with pytest.raises(ValueError, match="salidas, entradas"):
        MaskedConv2d(6, 16, 5, torch.ones(6, 16))
    assert count_params(lenet5(sparse_c3=True)) == count_params(lenet5())   # el tensor es el mismo; la máscara anula


def test_compound_scaling_keys_in_spanish():
    assert compound_scaling(0) == {"phi": 0, "profundidad": 1.0, "ancho": 1.0, "resolución": 224, "factor_macs": 1.0}


# Ejercicios del cuaderno 05: la comprobación acepta la solución y rechaza respuestas equivocadas.
from vpc2.ejercicios import run_exercise  # noqa: E402


def test_exercise_5_1_conv_params():
    right = lambda c_in, c_out, k, groups=1, bias=True: c_out * (c_in // groups) * k * k + (c_out if bias else 0)
    assert run_exercise("5.1", right).passed
    for wrong in (lambda c_in, c_out, k, groups=1, bias=True: c_out * c_in * k * k + (c_out if bias else 0),   # ignora groups
                  lambda c_in, c_out, k, groups=1, bias=True: c_out * (c_in // groups) * k * k + c_out,         # sesgo siempre
                  lambda c_in, c_out, k, groups=1, bias=True: c_out * (c_in // groups) * k):                    # k en vez de k²
        r = run_exercise("5.1", wrong)
        assert not r.passed and "caso" in r.message


def test_exercise_5_2_conv_macs():
    right = lambda c_in, c_out, k, side, groups=1: side * side * c_out * (c_in // groups) * k * k
    assert run_exercise("5.2", right).passed
    for wrong in (lambda c_in, c_out, k, side, groups=1: side * side * c_out * c_in * k * k,        # ignora groups
                  lambda c_in, c_out, k, side, groups=1: side * c_out * (c_in // groups) * k * k,   # un solo lado
                  lambda c_in, c_out, k, side, groups=1: (side - k + 1) ** 2 * c_out * (c_in // groups) * k * k):   # sin padding
        r = run_exercise("5.2", wrong)
        assert not r.passed and "caso" in r.message


def test_exercise_5_3_separable_conv():
    right = lambda c_in, c_out: nn.Sequential(nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False),
                                              nn.Conv2d(c_in, c_out, 1, bias=False))
    assert run_exercise("5.3", right).passed
    for wrong in (lambda c_in, c_out: nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)),       # una densa
                  lambda c_in, c_out: nn.Sequential(nn.Conv2d(c_in, c_in, 3, groups=c_in, bias=False),      # sin padding
                                                    nn.Conv2d(c_in, c_out, 1, bias=False)),
                  lambda c_in, c_out: nn.Sequential(nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in),       # con sesgo
                                                    nn.Conv2d(c_in, c_out, 1))):
        r = run_exercise("5.3", wrong)
        assert not r.passed and "caso" in r.message
