"Pruebas de vpc2.vis que no entran en el cuaderno: más modos de PIL, formas raras y casos límite."
import ast
import warnings
from pathlib import Path

import matplotlib
matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from torch.testing import assert_close
from torchvision.transforms import ToTensor, v2
from torchvision.transforms.functional import to_pil_image

from vpc2.data import image_to_tensor
from vpc2.vis import (IMAGENET_MEAN, IMAGENET_STD, _TAB10, confusion_matrix_tensor, denormalize, draw_boxes, overlay_mask,
                      plot_channels, plot_confusion_matrix, plot_curves, plot_feature_maps, show_grid, show_image,
                      to_numpy_image, to_pil)

RNG = np.random.default_rng(123)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def rand_u8(*shape):
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


# --- conversiones ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1, 3), (17, 5, 3), (8, 9, 4), (6, 11), (4, 4, 1)])
def test_roundtrip_numpy_tensor_numpy_is_exact(shape):
    a = rand_u8(*shape)
    back = to_numpy_image(image_to_tensor(a))
    expected = a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a   # un canal vuelve como (H, W)
    np.testing.assert_array_equal(back, expected)


@pytest.mark.parametrize("mode,shape", [("L", (7, 5)), ("RGB", (7, 5, 3)), ("RGBA", (7, 5, 4))])
def test_roundtrip_pil_is_exact_and_matches_torchvision(mode, shape):
    pil = Image.fromarray(rand_u8(*shape), mode=mode)
    x = image_to_tensor(pil)
    assert_close(x, ToTensor()(pil))
    back = to_pil(x)
    assert back.mode == mode
    np.testing.assert_array_equal(np.asarray(back), np.asarray(pil))
    np.testing.assert_array_equal(np.asarray(back), np.asarray(to_pil_image(x)))


def test_palette_and_bilevel_pil_modes():
    rgb = Image.fromarray(rand_u8(6, 6, 3))
    pal = rgb.convert("P")
    assert_close(image_to_tensor(pal), ToTensor()(pal.convert("RGB")))     # la paleta se expande a RGB, no índices
    bits = Image.fromarray(rand_u8(6, 6) > 127)                             # modo "1"
    assert bits.mode == "1"
    x = image_to_tensor(bits)
    assert x.shape == (1, 6, 6) and set(x.unique().tolist()) <= {0.0, 1.0}


def test_uint16_is_scaled_to_unit_range():
    a = np.array([[0, 65535], [32768, 1]], np.uint16)
    assert_close(image_to_tensor(a), torch.tensor(a, dtype=torch.float32)[None] / 65535)


def test_readonly_and_negative_stride_arrays_convert_without_warnings():
    a = rand_u8(5, 6, 3)
    ro = a.copy(); ro.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_close(image_to_tensor(ro), ToTensor()(a))
        assert_close(image_to_tensor(a[:, ::-1]), ToTensor()(np.ascontiguousarray(a[:, ::-1])))


def test_tensor_with_grad_is_detached():
    x = torch.rand(3, 4, 4, requires_grad=True)
    out = image_to_tensor(x)
    assert not out.requires_grad
    assert to_numpy_image(x, np.float32).shape == (4, 4, 3)


def test_float64_numpy_batch_becomes_float32_nchw():
    a = RNG.random((2, 5, 6, 3))
    x = image_to_tensor(a)
    assert x.shape == (2, 3, 5, 6) and x.dtype == torch.float32
    assert_close(x[1, 2], torch.tensor(a[1, :, :, 2], dtype=torch.float32))


@pytest.mark.parametrize("bad,msg", [
    (torch.zeros(1, 2, 3, 8, 8), "5 dimensiones"),
    (np.zeros((2, 2, 3, 8, 8)), "dimensiones"),
    (np.zeros((4, 4), np.int32), "uint8"),
    (np.zeros((4, 4), np.complex64), "uint8"),
    ("foto.png", "No sé convertir"),
])
def test_bad_inputs_have_spanish_errors(bad, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        image_to_tensor(bad)


@pytest.mark.parametrize("c,channels,fix", [(4, 3, "RGBA"), (1, 3, "expand"), (3, 1, "convert('L')")])
def test_channel_mismatch_names_the_fix(c, channels, fix):
    with pytest.raises(ValueError, match=rf"{c} canales.*{channels}"):
        image_to_tensor(torch.zeros(c, 4, 4), channels=channels)
    with pytest.raises(ValueError, match=fix.replace("(", r"\(").replace(")", r"\)")):
        image_to_tensor(torch.zeros(c, 4, 4), channels=channels)


def test_to_numpy_image_rounds_and_clamps():
    x = torch.tensor([[[-0.2, 0.0, 0.4 / 255, 1.6 / 255, 1.0, 3.0]]])     # (C=1, H=1, W=6)
    np.testing.assert_array_equal(to_numpy_image(x), np.array([[0, 0, 0, 2, 255, 255]], np.uint8))


# --- denormalize ----------------------------------------------------------------------------------------

def test_denormalize_keeps_dtype_and_matches_manual_formula():
    x = torch.rand(3, 4, 5, dtype=torch.float64)
    out = denormalize(x)
    assert out.dtype == torch.float64
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64)[:, None, None]
    assert_close(out, x * std + mean)
    assert_close(denormalize(v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)(x)), x)


def test_denormalize_rejects_wrong_rank():
    with pytest.raises(ValueError, match="5 dimensiones"):
        denormalize(torch.zeros(1, 1, 3, 4, 4))


# --- dibujo ---------------------------------------------------------------------------------------------

def test_show_image_grey_uses_fixed_range():
    a = np.full((4, 4), 10, np.uint8)                       # una imagen casi negra no se estira a blanco
    im = show_image(a).images[0]
    assert im.get_clim() == (0, 255) and im.get_cmap().name == "gray"


def test_show_image_rejects_batches():
    with pytest.raises(ValueError, match="show_grid"):
        show_image(torch.rand(2, 3, 4, 4))


def test_show_grid_layout_and_title_colors():
    fig = show_grid(torch.rand(3, 3, 4, 4), titles=["a", "b", "c"], ncols=8, title_colors=["red", "green", "red"])
    assert len(fig.axes) == 3
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (1, 3)   # ncols se ajusta a n
    assert [ax.title.get_color() for ax in fig.axes] == ["red", "green", "red"]
    fig = show_grid([rand_u8(4, 4, 3)] * 9, ncols=4)
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (3, 4) and len(fig.axes) == 9


def test_show_grid_rejects_single_image_tensor():
    with pytest.raises(ValueError, match="show_image"):
        show_grid(torch.rand(3, 4, 4))


def test_plot_channels_bgr_labels():
    a = rand_u8(5, 6, 3)
    fig = plot_channels(a[..., ::-1], names=("azul", "verde", "rojo"), cmaps=("Blues", "Greens", "Reds"), show_original=False)
    assert [ax.get_title() for ax in fig.axes] == ["canal azul", "canal verde", "canal rojo"]
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), a[..., 2])
    with pytest.raises(ValueError, match="3 nombres"):
        plot_channels(a, names=("r", "g"))


def test_draw_boxes_string_labels_and_mismatches():
    img = rand_u8(20, 30, 3)
    ax = draw_boxes(img, np.array([[1, 2, 10, 12], [5, 5, 25, 18], [0, 0, 4, 4]]), labels=["gato", "perro", "gato"])
    assert len(ax.patches) == 3 and [t.get_text() for t in ax.texts] == ["gato", "perro", "gato"]
    assert ax.patches[0].get_edgecolor() == ax.patches[2].get_edgecolor() != ax.patches[1].get_edgecolor()
    r = ax.patches[1]
    assert (r.get_x(), r.get_y(), r.get_width(), r.get_height()) == (4.5, 4.5, 20, 13)
    assert len(draw_boxes(img, [1, 2, 3, 4]).patches) == 1                 # una sola caja (4,)
    with pytest.raises(ValueError, match="una etiqueta por caja"):
        draw_boxes(img, [[0, 0, 2, 2]], labels=[0, 1])
    with pytest.raises(ValueError, match="un puntaje por caja"):
        draw_boxes(img, [[0, 0, 2, 2]], scores=[0.5, 0.2])
    with pytest.raises(ValueError, match="un color por caja"):
        draw_boxes(img, [[0, 0, 2, 2]], colors=["red", "blue"])


def test_overlay_mask_gray_image_soft_instances_and_class_colors():
    gray = np.full((2, 3), 100, np.uint8)
    soft = np.zeros((1, 2, 3), np.float32); soft[0, 0, 0] = 0.9; soft[0, 1, 2] = 0.2   # probabilidades: umbral 0.5
    out = overlay_mask(gray, soft, alpha=0.5, colors=[(1.0, 0.0, 0.0)])
    assert out.shape == (2, 3, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [0.5 * 100 / 255 + 0.5, 0.5 * 100 / 255, 0.5 * 100 / 255], rtol=1e-6)
    np.testing.assert_allclose(out[1, 2], [100 / 255] * 3, rtol=1e-6)   # 0.2 < 0.5: no se pinta
    sem = np.array([[0, 3, 3], [0, 0, 0]])
    out = overlay_mask(gray, sem, alpha=1.0)                              # la clase 3 usa tab10[3], como draw_boxes
    np.testing.assert_allclose(out[0, 1], _TAB10[3], rtol=1e-6)
    with pytest.raises(ValueError, match="negativos"):
        overlay_mask(gray, -sem)
    with pytest.raises(ValueError, match="lote"):
        overlay_mask(torch.rand(2, 3, 2, 3), sem)


def test_plot_curves_metrics_only_and_tensor_values():
    fig = plot_curves([{"accuracy": torch.tensor(0.5)}, {"accuracy": torch.tensor(0.75)}])
    assert len(fig.axes) == 1 and fig.axes[0].get_ylabel() == "métrica"
    assert list(fig.axes[0].lines[0].get_ydata()) == [0.5, 0.75]
    with pytest.raises(TypeError, match="dict"):
        plot_curves([1.0, 0.5])


@pytest.mark.parametrize("normalize", [None, "true", "pred", "all"])
def test_confusion_matrix_matches_sklearn_on_lists_and_tensors(normalize):
    y_true = RNG.integers(0, 5, 300); y_pred = RNG.integers(0, 5, 300)
    ref = torch.from_numpy(sk_confusion_matrix(y_true, y_pred, labels=range(5), normalize=normalize))
    assert_close(confusion_matrix_tensor(list(y_true), torch.from_numpy(y_pred), 5, normalize=normalize).double(), ref.double())


def test_confusion_matrix_length_mismatch():
    with pytest.raises(ValueError, match="mismo conjunto"):
        confusion_matrix_tensor([0, 1, 2], [0, 1], 3)


def test_plot_confusion_matrix_annotation_rules():
    y = RNG.integers(0, 20, 100)
    assert len(plot_confusion_matrix(y, y, [f"c{i}" for i in range(20)]).texts) == 0   # muchas clases: sin números
    assert len(plot_confusion_matrix(y % 3, y % 3, ["a", "b", "c"], annotate=False).texts) == 0
    ax = plot_confusion_matrix(y % 3, y % 3, ["a", "b", "c"])
    assert np.asarray(ax.images[0].get_array()).trace() == 100


def test_plot_feature_maps_numpy_and_2d():
    fig = plot_feature_maps(RNG.random((5, 4, 4)), ncols=2)
    assert len(fig.axes) == 5
    assert len(plot_feature_maps(torch.rand(4, 4)).axes) == 1
    assert "primeros 3 de 5" in plot_feature_maps(torch.rand(5, 4, 4), max_maps=3)._suptitle.get_text()
    with pytest.raises(ValueError, match="al menos 1"):
        plot_feature_maps(torch.rand(2, 4, 4), max_maps=0)


def test_module_imports_stay_light():
    "vpc2.vis no importa OpenCV, scikit-image ni scikit-learn: sólo los usa el cuaderno."
    src = (Path(__file__).resolve().parents[1]/"vpc2"/"vis.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import): imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module: imported.add(node.module.split(".")[0])
    assert not imported & {"cv2", "skimage", "sklearn"}, imported


def test_one_name_per_thing():
    "vpc2.vis no tapa la confusion_matrix de scikit-learn ni repite el conversor de imágenes de vpc2.data."
    import vpc2.vis as vis
    assert not hasattr(vis, "confusion_matrix") and not hasattr(vis, "to_tensor_image")
    assert vis.image_to_tensor is image_to_tensor


@pytest.mark.parametrize("label, wrong", [
    ("2.1", lambda x, mean, std: (x - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)),   # normaliza otra vez
    ("2.1", lambda x, mean, std: x * torch.tensor(std).view(-1, 1, 1)),                                          # sin la media
    ("2.2", lambda yt, yp, n: _confusion_transposed(yt, yp, n)),                                                 # filas = predicha
    ("2.2", lambda yt, yp, n: _confusion_transposed(yt, yp, n).astype(float) / max(len(yt), 1)),                # normalizada
    ("2.3", lambda img: img.mean(0, keepdim=True)),                                                               # promedio simple
    ("2.3", lambda img: (img * torch.tensor([0.2989, 0.587, 0.114]).view(3, 1, 1)).sum(0)),                    # sin el canal
])
def test_exercises_reject_wrong_answers(label, wrong):
    import vpc2.vis  # noqa: F401  (registra los ejercicios 2.x)
    from vpc2.ejercicios import run_exercise
    r = run_exercise(label, wrong)
    assert not r.passed and "caso" in r.message


def _confusion_transposed(y_true, y_pred, n):
    cm = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(y_true, y_pred): cm[p, t] += 1
    return cm


def test_exercises_accept_reference_solutions():
    from vpc2.ejercicios import run_exercise
    from vpc2.vis import _confusion_reference, _gray_reference, denormalize
    for label, fn in (("2.1", denormalize), ("2.2", _confusion_reference), ("2.3", _gray_reference)):
        assert run_exercise(label, fn).passed, label
