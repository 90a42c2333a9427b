"Pruebas de vpc2.interpret: saliencia, Grad-CAM contra pytorch-grad-cam, errores y transferencia de estilo."
import pytest
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from torch.testing import assert_close

from vpc2.core import max_batches
from vpc2.models import VGG_CFGS, make_vgg_features
from vpc2.interpret import (FeatureExtractor, add_shortcut, energy_in_mask, figuras_with_masks, gram_matrix, grad_cam,
                            overlay_cam, saliency, style_loss, style_transfer, vgg19_features, vit_reshape_transform)
from vpc2.train import simple_cnn
from vpc2.vit import ViT


def library_cam(model, x, layer, class_idx=None, reshape_transform=None):
    targets = None if class_idx is None else [ClassifierOutputTarget(int(c)) for c in class_idx]
    with GradCAM(model=model, target_layers=[layer], reshape_transform=reshape_transform) as cam:
        return torch.from_numpy(cam(input_tensor=x, targets=targets))


@pytest.mark.parametrize("layer", [4, 8, 10])
@pytest.mark.parametrize("class_idx", [None, [0, 1, 2, 3, 4, 0]])
def test_grad_cam_matches_library_cnn(one_thread, layer, class_idx):
    torch.manual_seed(layer)
    model = simple_cnn(5).eval()
    x = torch.rand(6, 3, 32, 32)
    mine = grad_cam(model, x, model[layer], class_idx)
    assert mine.shape == (6, 32, 32) and mine.min() >= 0 and mine.max() <= 1
    assert_close(mine, library_cam(model, x, model[layer], class_idx), atol=1e-3, rtol=0)


def test_grad_cam_matches_library_vit(one_thread):
    torch.manual_seed(0)
    vit = ViT(img_size=16, patch_size=4, num_classes=3, embed_dim=16, depth=2, num_heads=2).eval()
    x = torch.rand(4, 3, 16, 16)
    reshape = vit_reshape_transform(vit.grid_size)
    layer = vit.blocks[-1].norm1
    for c in (None, [0, 1, 2, 1]):
        assert_close(grad_cam(vit, x, layer, c, reshape), library_cam(vit, x, layer, c, reshape), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="reshape_transform"):
        grad_cam(vit, x, layer)


def test_grad_cam_leaves_model_alone(one_thread):
    model = simple_cnn(5).train()
    grad_cam(model, torch.rand(2, 3, 16, 16), model[10])
    assert model.training and all(p.grad is None for p in model.parameters())
    model.requires_grad_(False)
    assert grad_cam(model, torch.rand(2, 3, 16, 16), model[10]).shape == (2, 16, 16)


class _WithUnused(nn.Module):
    def __init__(self):
        super().__init__()
        self.body, self.extra = simple_cnn(5), nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.body(x)


def test_grad_cam_bad_input(one_thread):
    model, x = simple_cnn(5), torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match="no es una capa de este modelo"):
        grad_cam(model, x, simple_cnn(5)[10])
    unused = _WithUnused()
    with pytest.raises(RuntimeError, match="no se ejecutó"):
        grad_cam(unused, x, unused.extra)
    with pytest.raises(IndexError, match="fuera de rango"):
        grad_cam(model, x, model[10], class_idx=5)
    with pytest.raises(IndexError, match="fuera de rango"):
        grad_cam(model, x, model[10], class_idx=[-1, 0])
    with pytest.raises(ValueError, match="uno por imagen"):
        grad_cam(model, x, model[10], class_idx=[0, 1, 2])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        grad_cam(model, x[0], model[10])
    with pytest.raises(TypeError, match="tiene que ser un módulo"):
        grad_cam(model, x, "10")


def test_saliency_linear_model_is_weight(one_thread):
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, 4))
    x = torch.rand(3, 3, 6, 6)
    w = lin[1].weight.detach().reshape(4, 3, 6, 6)
    assert_close(saliency(lin, x, [1, 3, 0]), w[[1, 3, 0]].abs().amax(1))
    assert_close(saliency(lin, x, 2, smooth=5), w[[2, 2, 2]].abs().amax(1))
    with pytest.raises(IndexError, match="fuera de rango"):
        saliency(lin, x, 4)
    with pytest.raises(ValueError, match="entero >= 0"):
        saliency(lin, x, smooth=1.5)


def test_energy_and_shortcut():
    x, y, masks = figuras_with_masks(4, 32, seed=1)
    assert x.shape == (4, 3, 32, 32) and masks.shape == (4, 32, 32) and masks.any((1, 2)).all()
    assert_close(energy_in_mask(masks.float(), masks), torch.ones(4))
    assert_close(energy_in_mask((~masks).float(), masks), torch.zeros(4))
    marked = add_shortcut(x, y)
    assert (marked[:, :, 4:] == x[:, :, 4:]).all()
    with pytest.raises(ValueError, match="entre 0 y 4"):
        add_shortcut(x, [0, 1, 2, 7])


def test_overlay_cam_shapes():
    img = torch.rand(3, 8, 8)
    out = overlay_cam(img, torch.rand(8, 8))
    assert out.shape == (8, 8, 3) and 0 <= out.min() and out.max() <= 1
    with pytest.raises(ValueError, match="El mapa mide"):
        overlay_cam(img, torch.rand(4, 4))


def test_gram_and_style_loss():
    f = torch.randn(2, 5, 4, 3)
    assert_close(gram_matrix(f), torch.einsum("nchw,ndhw->ncd", f, f) / 60)
    assert_close(style_loss([f], [gram_matrix(f)]), torch.tensor(0.0))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        gram_matrix(f[0])


def test_style_transfer_lowers_style_loss(one_thread):
    torch.manual_seed(0)
    feats = FeatureExtractor(make_vgg_features(VGG_CFGS[19]), {"relu1_1": 1, "relu2_1": 6},
                             content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"))
    content = torch.linspace(0, 1, 24).expand(3, 24, 24).clone()       # un degradé suave
    style = torch.zeros(3, 24, 24); style[0, :, ::3] = 1; style[2, ::4] = 1  # rayas rojas y azules
    img, hist = style_transfer(content, style, feats, style_weight=1e6, steps=20, lr=0.05)
    assert img.shape == content.shape and 0 <= img.min() and img.max() <= 1
    assert all(len(v) == max_batches(20) for v in hist.values())
    assert hist["content"][0] == 0.0
    if len(hist["style"]) == 20:
        assert hist["style"][-1] < hist["style"][0] / 2
    with pytest.raises(ValueError, match="imagen RGB"):
        style_transfer(content[:1], style, feats)
    with pytest.raises(KeyError, match="no devuelve las capas"):
        style_transfer(content, style, feats, content_layers=("relu4_2",))


def test_vgg19_features_offline(monkeypatch, capsys):
    monkeypatch.setenv("VPC2_OFFLINE", "1")
    feats = vgg19_features("auto")
    assert not feats.pretrained and "Aviso" in capsys.readouterr().out
    assert list(feats(torch.rand(1, 3, 16, 16))) == ["relu1_1", "relu2_1", "relu3_1"]
    with pytest.raises(ValueError, match="True, False o 'auto'"):
        vgg19_features("si")


# --- oclusión, gradientes integrados, AdaIN, características al azar y ejercicios ---
from vpc2.interpret import (RandomTextureFeatures, adain, brush_strokes, channel_mean_std, integrated_gradients,
                            mean_std_loss, occlusion, style_features)
from vpc2.ejercicios import run_exercise


@pytest.mark.parametrize("window,stride,baseline", [(4, 2, 0.0), (3, 3, 0.5), (5, 4, 0.0), (14, 1, 0.0)])
def test_occlusion_matches_captum(one_thread, window, stride, baseline):
    captum = pytest.importorskip("captum.attr")
    torch.manual_seed(0)
    model = simple_cnn(5, channels=(4, 8)).eval()
    x, t = torch.rand(3, 3, 14, 14), torch.tensor([0, 3, 1])
    ref = captum.Occlusion(model).attribute(x, target=t, sliding_window_shapes=(3, window, window),
                                            strides=(3, stride, stride), baselines=baseline)
    assert_close(occlusion(model, x, t, window, stride, baseline), ref, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("steps", [2, 20, 50])
@pytest.mark.parametrize("random_baseline", [False, True])
def test_integrated_gradients_matches_captum(one_thread, steps, random_baseline):
    captum = pytest.importorskip("captum.attr")
    torch.manual_seed(steps)
    model = simple_cnn(5, channels=(4, 8)).eval()
    x, t = torch.rand(3, 3, 12, 12), torch.tensor([4, 0, 2])
    baseline = torch.rand_like(x) if random_baseline else None
    ref = captum.IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x) if baseline is None else baseline,
                                                      target=t, n_steps=steps, method="riemann_trapezoid")
    assert_close(integrated_gradients(model, x, t, baseline=baseline, steps=steps), ref, atol=1e-6, rtol=1e-4)


def test_integrated_gradients_completeness(one_thread):
    torch.manual_seed(0)
    model = simple_cnn(5, channels=(4, 8)).eval()
    x, t = torch.rand(2, 3, 12, 12), torch.tensor([1, 3])
    ig = integrated_gradients(model, x, t, steps=200)
    with torch.no_grad():
        gap = model(x)[torch.arange(2), t] - model(torch.zeros_like(x))[torch.arange(2), t]
    assert_close(ig.sum((1, 2, 3)), (1 - 1 / 200) * gap, atol=2e-3, rtol=2e-2)


def test_occlusion_and_ig_bad_input():
    model = simple_cnn(5, channels=(4, 8))
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="entero positivo"):
        occlusion(model, x, 0, window=2, stride=0)
    with pytest.raises(ValueError, match="no entra"):
        occlusion(model, x, 0, window=9, stride=1)
    with pytest.raises(ValueError, match="al menos 2"):
        integrated_gradients(model, x, 0, steps=1)


def test_adain_is_instance_norm():
    torch.manual_seed(0)
    c, s = torch.randn(2, 4, 5, 6), 3 * torch.randn(2, 4, 7, 3) + 2
    for eps in (1e-5, 0.3):
        mean = s.mean((2, 3), keepdim=True)
        std = (s.var((2, 3), keepdim=True, unbiased=False) + eps).sqrt()
        assert_close(adain(c, s, eps=eps), torch.nn.functional.instance_norm(c, eps=eps) * std + mean)
    assert_close(mean_std_loss([s], [channel_mean_std(s)]), torch.tensor(0.0))
    assert mean_std_loss([c[:, :, :, :3]], [channel_mean_std(s)]) > 0
    with pytest.raises(ValueError, match="mismo"):
        adain(c, s[:, :2])


def test_gatys_layer_weighting():
    torch.manual_seed(0)
    f, a = torch.randn(1, 6, 4, 5), torch.randn(1, 6, 4, 5)
    raw = lambda t: t.reshape(6, 20) @ t.reshape(6, 20).T
    expected = ((raw(f) - raw(a)) ** 2).sum() / (4 * 6 ** 2 * 20 ** 2)          # E_ℓ de Gatys et al.
    assert_close(style_loss([f], [gram_matrix(a)]), expected)
    assert_close(style_loss([f, a], [gram_matrix(a), gram_matrix(a)]), expected / 2)   # w_ℓ = 1/L


def test_random_texture_features_and_style(one_thread, capsys):
    feats = style_features(False)
    assert isinstance(feats, RandomTextureFeatures) and not feats.pretrained
    out = feats(torch.rand(1, 3, 32, 32))
    assert list(out) == ["escala0", "escala1", "escala2", "escala3"] and out["escala3"].shape == (1, 64, 4, 4)
    content, style = torch.rand(3, 32, 32), brush_strokes(32)
    img, hist = style_transfer(content, style, feats, style_weight=1e3, steps=10)
    assert img.shape == content.shape
    if len(hist["style"]) == 10:
        assert hist["style"][-1] < hist["style"][0]
    _, hist_ms = style_transfer(content, style, feats, steps=3, style_stat="meanstd")
    assert hist_ms["style"][0] > 0


def _wrong_shape_gram(f):
    return f.reshape(f.shape[0], f.shape[1], -1)


def _wrong_scale_gram(f):
    n, c, h, w = f.shape
    g = f.reshape(n, c, h * w)
    return g @ g.transpose(1, 2)


def _adain_unbiased(c, s, eps=1e-5):
    return ((c - c.mean((2, 3), keepdim=True)) / (c.var((2, 3), keepdim=True) + eps).sqrt()
            * (s.var((2, 3), keepdim=True) + eps).sqrt() + s.mean((2, 3), keepdim=True))


def _adain_swapped(c, s, eps=1e-5):
    return adain(s, c, eps)


@pytest.mark.parametrize("label,wrong", [("11.1", _wrong_shape_gram), ("11.1", _wrong_scale_gram),
                                         ("11.2", _adain_unbiased), ("11.2", _adain_swapped),
                                         ("11.3", lambda cam, masks: masks.flatten(1).float().mean(1)),
                                         ("11.3", lambda cam, masks: masks.flatten(1).gather(1, cam.flatten(1).argmin(1, keepdim=True))[:, 0].float())])
def test_exercises_reject_wrong_answers(label, wrong):
    r = run_exercise(label, wrong)
    assert not r.passed and "caso" in r.message


def test_exercises_accept_reference():
    from vpc2.interpret import _adain_reference, _pointing_reference
    for label, fn in [("11.1", gram_matrix), ("11.2", _adain_reference), ("11.2", adain), ("11.3", _pointing_reference)]:
        assert run_exercise(label, fn).passed, label
