"Pruebas de vpc2.conv: formas contra las capas de PyTorch, convolución y pooling contra F.*, errores y gradcheck."
import itertools
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.testing import assert_close

from vpc2.conv import (IM2COL_BLOCK_BYTES, IM2COL_MAX_BYTES, Conv2dIm2col, MaxPool2dIm2col, _check_conv2d,
                       _conv2d_forward, adaptive_avg_pool2d, adaptive_max_pool2d, adaptive_windows, benchmark_conv,
                       conv2d_backward, conv2d_im2col, conv2d_naive, conv2d_unfold, conv_output_size, conv_params,
                       filter_image, format_benchmark, free_im2col_workspace, im2col_block_bytes, im2col_goal,
                       max_pool2d_backward, max_pool2d_im2col, patch_view, pool_output_size, receptive_field,
                       time_interleaved, window_coords)
from vpc2.core import num_threads


pytestmark = pytest.mark.usefixtures("one_thread")   # de conftest.py


def out_shape(layer, size):
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # 'same' con kernel par avisa que copia la entrada
        return tuple(layer(torch.zeros(1, 1, *size)).shape[2:])


CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
MAXP = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
AVGP = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}


# ---------- tamaños de salida ----------

@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_output_size_matches_torch_layers(nd):
    sizes = [(4,), (7,), (10,)] if nd == 1 else [(4, 9), (7, 5)] if nd == 2 else [(4, 5, 6)]
    n = 0
    for size, k, s, p, d in itertools.product(sizes, (1, 2, 3, 4), (1, 2, 3), (0, 1, 2, "same", "valid"), (1, 2, 3)):
        if p == "same" and s != 1: continue
        try: expected = out_shape(CONV[nd](1, 1, k, s, p, d), size)
        except RuntimeError:
            with pytest.raises(ValueError, match="más grande que la entrada con padding"):
                conv_output_size(size, k, s, p, d)
            continue
        assert conv_output_size(size, k, s, p, d) == expected, (size, k, s, p, d)
        n += 1
    assert n > 50


def test_conv_output_size_tuples_and_scalars():
    assert conv_output_size(6, 3) == 4 and conv_output_size((6, 6), 3) == (4, 4)
    assert conv_output_size((9, 8), (3, 2), (2, 1), (1, 0), (1, 2)) == out_shape(nn.Conv2d(1, 1, (3, 2), (2, 1), (1, 0), (1, 2)), (9, 8))
    assert conv_output_size(torch.Size([32, 32]), 3, padding="same") == (32, 32)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_pool_output_size_matches_torch_layers(nd):
    sizes = [(5,), (8,), (11,)] if nd == 1 else [(5, 8), (9, 9)] if nd == 2 else [(5, 6, 7)]
    n = 0
    for size, k, s, d, ceil in itertools.product(sizes, (1, 2, 3, 4), (None, 1, 2, 3), (1, 2), (False, True)):
        for p in range(k // 2 + 1):
            try: expected = out_shape(MAXP[nd](k, s, p, d, ceil_mode=ceil), size)
            except RuntimeError: continue
            assert pool_output_size(size, k, s, p, d, ceil) == expected, ("max", size, k, s, p, d, ceil)
            n += 1
            if d == 1:
                assert pool_output_size(size, k, s, p, 1, ceil) == out_shape(AVGP[nd](k, s, p, ceil_mode=ceil), size)
    assert n > 50


def test_output_size_errors_are_spanish_and_actionable():
    with pytest.raises(ValueError, match="Agregá padding"): conv_output_size(3, 5)
    with pytest.raises(ValueError, match="stride debe ser ≥ 1"): conv_output_size(8, 3, stride=0)
    with pytest.raises(ValueError, match="padding debe ser ≥ 0"): conv_output_size(8, 3, padding=-1)
    with pytest.raises(ValueError, match="dilation debe ser ≥ 1"): conv_output_size(8, 3, dilation=0)
    with pytest.raises(ValueError, match="sólo vale con stride=1"): conv_output_size(8, 3, 2, "same")
    with pytest.raises(ValueError, match="'valid', 'same'"): conv_output_size(8, 3, padding="full")
    with pytest.raises(ValueError, match="mitad del kernel"): pool_output_size(8, 3, padding=2)
    with pytest.raises(ValueError, match="tupla de 2 enteros"): conv_output_size((8, 8), (3, 3, 3))
    with pytest.raises(ValueError, match="entero"): conv_output_size(8, 2.5)


def test_conv_params_matches_layers():
    for cin, cout, k, bias in itertools.product((1, 3, 8), (1, 4), (1, 3, (3, 5)), (True, False)):
        layer = nn.Conv2d(cin, cout, k, bias=bias)
        assert conv_params(cin, cout, k, bias) == sum(p.numel() for p in layer.parameters())
    assert conv_params(4, 6, 3, dims=3) == sum(p.numel() for p in nn.Conv3d(4, 6, 3).parameters())


# ---------- convolución ----------

def conv_cases():
    shapes = [((2, 3, 9, 8), (4, 3, 3, 3)), ((1, 1, 6, 6), (2, 1, 1, 1)), ((3, 2, 11, 7), (3, 2, 2, 3)),
              ((2, 4, 5, 13), (5, 4, 3, 1))]
    for (xs, ws), s, p, d in itertools.product(shapes, (1, 2, 3, (2, 1)), (0, 1, 2, "same", "valid", (2, 0)), (1, 2, (1, 2))):
        if p == "same" and s != 1: continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # 'same' con kernel par avisa que copia la entrada
                F.conv2d(torch.zeros(xs), torch.zeros(ws), None, s, p, d)
        except RuntimeError: continue
        yield xs, ws, s, p, d


CONV_CASES = list(conv_cases())


def conv_inputs_and_reference(xs, ws, s, p, d, gen):
    "Entrada, pesos y sesgo al azar (con gradiente) y la salida de `F.conv2d` (sin sus avisos)."
    x = torch.randn(xs, generator=gen, requires_grad=True)
    w = torch.randn(ws, generator=gen, requires_grad=True)
    b = torch.randn(ws[0], generator=gen, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return x, w, b, F.conv2d(x, w, b, s, p, d)


def test_grid_is_large():
    assert len(CONV_CASES) > 150


@pytest.mark.parametrize("fn", [conv2d_im2col, conv2d_unfold])
def test_conv_matches_F_conv2d_over_grid(fn):
    gen = torch.Generator().manual_seed(0)
    for xs, ws, s, p, d in CONV_CASES:
        x, w, b = torch.randn(xs, generator=gen), torch.randn(ws, generator=gen), torch.randn(ws[0], generator=gen)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = F.conv2d(x, w, b, s, p, d)
        assert_close(fn(x, w, b, s, p, d), ref, msg=lambda m: f"{fn.__name__} {xs} {ws} s={s} p={p} d={d}: {m}")
        assert_close(fn(x, w, None, s, p, d), ref - b.view(1, -1, 1, 1))


def test_naive_matches_F_conv2d_on_subgrid():
    gen = torch.Generator().manual_seed(1)
    for xs, ws, s, p, d in CONV_CASES[::7]:
        x, w, b = torch.randn(xs, generator=gen), torch.randn(ws, generator=gen), torch.randn(ws[0], generator=gen)
        assert_close(conv2d_naive(x, w, b, s, p, d), F.conv2d(x, w, b, s, p, d))


@pytest.mark.parametrize("block_bytes", [1, 200, 4096, 5*9*10*4*10, 2*5*9*10*4*10, 2**30])
def test_im2col_blocking_does_not_change_result(block_bytes):
    "Bloques de una fila, de varias filas, de una imagen, de dos (la última incompleta) y de todo el lote."
    gen = torch.Generator().manual_seed(2)
    x, w, b = torch.randn(3, 5, 12, 10, generator=gen), torch.randn(6, 5, 3, 3, generator=gen), torch.randn(6, generator=gen)
    for s, p, d in [(1, 1, 1), (2, 0, 2), ((1, 2), (2, 1), (2, 1))]:
        args = _check_conv2d(x, w, b, s, p, d)
        ref = F.conv2d(x, w, b, s, p, d)
        assert_close(_conv2d_forward(x, w, b, *args, block_bytes=block_bytes), ref)
        assert_close(_conv2d_forward(x, w, None, *args, block_bytes=block_bytes), ref - b.view(1, -1, 1, 1))


def test_block_size_depends_on_threads_and_device():
    small, big = 2**20, 8 * 2**20                        # ventanas de una imagen: menos y más que IM2COL_BLOCK_BYTES
    assert im2col_block_bytes(small, "cpu", 1) == im2col_block_bytes(big, "cpu", 1) == IM2COL_BLOCK_BYTES
    assert im2col_block_bytes(small, "cuda", 1) == im2col_block_bytes(small, "cuda", 4) == IM2COL_MAX_BYTES
    # con T hilos, imágenes enteras de a T (IM2COL_BLOCK_BYTES por hilo, al menos una imagen)
    assert im2col_block_bytes(small, "cpu", 2) == 2 * (IM2COL_BLOCK_BYTES // small) * small
    assert im2col_block_bytes(big, "cpu", 2) == 2 * big and im2col_block_bytes(big, "cpu", 3) == 3 * big
    with num_threads(2): assert im2col_block_bytes(big) == 2 * big
    with num_threads(1): assert im2col_block_bytes(big) == IM2COL_BLOCK_BYTES
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="image_bytes debe ser un entero positivo"):
            im2col_block_bytes(bad)


@pytest.mark.parametrize("threads", [1, 2])
def test_im2col_matches_F_conv2d_at_each_thread_count(threads):
    """Los bloques de un hilo (lo que cabe en la caché) y los de varios (imágenes de a una por hilo), con gradientes. La
    última forma tiene imágenes de 2,4 MB de ventanas y N = 3: con dos hilos, un bloque de dos imágenes y uno incompleto."""
    gen = torch.Generator().manual_seed(8)
    big = ((3, 64, 32, 32), (8, 64, 3, 3), 1, 1, 1)
    assert im2col_block_bytes(64*9 * 32*32 * 4, "cpu", 2) == 2 * 64*9 * 32*32 * 4
    with num_threads(threads):
        for xs, ws, s, p, d in [*CONV_CASES[::15], big]:
            x, w, b, ref = conv_inputs_and_reference(xs, ws, s, p, d, gen)
            tol = dict(rtol=1e-4, atol=1e-4) if xs == big[0] else {}   # sumas de 576 productos de orden 1: error ~1e-5
            out = conv2d_im2col(x, w, b, s, p, d)
            assert_close(out, ref, **tol)
            g = torch.randn(ref.shape, generator=gen)
            # el gradiente de los pesos suma N·H·W = 3072 productos en la forma grande: el redondeo llega a ~1e-4
            gtol = dict(rtol=1e-3, atol=5e-4) if xs == big[0] else {}
            for got, want in zip(torch.autograd.grad(out, (x, w, b), g), torch.autograd.grad(ref, (x, w, b), g)):
                assert_close(got, want, **gtol)


def test_workspace_is_reused_without_overwriting_results():
    gen = torch.Generator().manual_seed(9)
    x, w = torch.randn(4, 3, 9, 9, generator=gen), torch.randn(5, 3, 3, 3, generator=gen)
    first = conv2d_im2col(x, w, padding=1)
    second = conv2d_im2col(2*x, w, padding=1)                  # misma matriz de trabajo
    assert_close(first, F.conv2d(x, w, padding=1))
    assert_close(second, 2*first)
    conv2d_im2col(torch.randn(2, 3, 20, 20, generator=gen), w)  # más grande: la matriz crece
    assert free_im2col_workspace() >= 3*3*3 * 18*18 * 4
    assert free_im2col_workspace() == 0
    assert_close(conv2d_im2col(x, w, padding=1), first)


def test_im2col_float64_channels_last_and_noncontiguous_inputs():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 10, 9, dtype=torch.float64, generator=gen)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, generator=gen)
    assert_close(conv2d_im2col(x, w, padding=1), F.conv2d(x, w, padding=1))
    xcl = x.to(memory_format=torch.channels_last)
    assert_close(conv2d_im2col(xcl, w, stride=2), F.conv2d(x, w, stride=2))
    xt = x.transpose(-1, -2)                        # no contiguo
    assert_close(conv2d_im2col(xt, w, dilation=2), F.conv2d(xt.contiguous(), w, dilation=2))
    y = conv2d_im2col(x, w)
    assert y.is_contiguous() and y.dtype == torch.float64


def test_class_example():
    X = torch.tensor([[[[7., 6, 8, 5, 1, 3], [8, 6, 5, 3, 5, 5], [9, 1, 1, 5, 3, 5],
                        [4, 5, 5, 9, 2, 6], [9, 5, 3, 1, 2, 2], [4, 4, 8, 8, 9, 8]]]])
    w = torch.tensor([[[[1., 1, 0], [-1, 1, -1], [0, -1, -1]]], [[[1., 1, 0], [-1, 1, -1], [-1, 0, -1]]]])
    b = torch.ones(2)
    for fn in (conv2d_naive, conv2d_unfold, conv2d_im2col):
        H = fn(X, w, b)
        assert H[0, 0, 0].tolist() == [5., 5., -1., -4.]
        M = max_pool2d_im2col(H, 2)
        assert M.flatten().tolist() == [5., -1., -1., 6., 5., 3., -4., 4.]
        assert M.flatten().sum().item() + 1 == 18.   # Linear(8, 1) con pesos y sesgo en 1


def test_patch_view_is_a_view_and_matches_unfold():
    x = torch.randn(2, 3, 7, 6)
    v = patch_view(x, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2))
    cols = F.unfold(x, (3, 2), dilation=(1, 2), padding=(1, 0), stride=(2, 1))
    assert_close(v.reshape(2, 3*3*2, -1), cols)
    x2 = torch.randn(1, 1, 5, 5)
    assert patch_view(x2, 3).untyped_storage().data_ptr() == x2.untyped_storage().data_ptr()   # sin relleno: sin copia


# ---------- errores ----------

X1 = torch.zeros(1, 1, 6, 6)
W1 = torch.zeros(2, 1, 3, 3)


@pytest.mark.parametrize("fn", [conv2d_naive, conv2d_unfold, conv2d_im2col])
@pytest.mark.parametrize("x, w, kw, msg", [
    (torch.zeros(1, 6, 6), W1, {}, "x.unsqueeze(0)"),
    (torch.zeros(6, 6), W1, {}, "x[None, None]"),
    (torch.zeros(1, 1, 1, 6, 6), W1, {}, "4 dimensiones (N, C, H, W)"),
    (torch.zeros(1, 3, 6, 6), W1, {}, "x tiene 3 canales pero weight espera 1"),
    (torch.zeros(1, 6, 6, 3), torch.zeros(2, 3, 3, 3), {}, "x.permute(0, 3, 1, 2)"),
    (torch.zeros(1, 1, 2, 2), W1, {}, "más grande que la entrada con padding"),
    (torch.zeros(1, 1, 4, 4), W1, dict(dilation=2), "Agregá padding"),
    (X1.to(torch.uint8), W1, {}, "x.float()"),
    (X1.double(), W1, {}, "mismo tipo"),
    (X1, W1[0], {}, "(C_out, C_in, kH, kW)"),
    (X1, W1, dict(bias=torch.zeros(3)), "bias debe tener forma (2,)"),
    (X1, W1, dict(stride=0), "stride debe ser ≥ 1"),
    (X1, W1, dict(padding=-1), "padding debe ser ≥ 0"),
    (X1, W1, dict(stride=2, padding="same"), "sólo vale con stride=1"),
])
def test_conv_bad_input(fn, x, w, kw, msg):
    with pytest.raises((ValueError, TypeError), match=_re(msg)):
        fn(x, w, **kw)


def _re(s): return s.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")


def test_conv_bad_input_not_a_tensor():
    with pytest.raises(TypeError, match="torch.as_tensor"):
        conv2d_im2col([[1.0]], W1)


def test_pool_and_filter_bad_input():
    with pytest.raises(ValueError, match=_re("x.unsqueeze(0)")): max_pool2d_im2col(torch.zeros(2, 8, 8), 2)
    with pytest.raises(ValueError, match="mitad del kernel"): max_pool2d_im2col(torch.zeros(1, 1, 8, 8), 2, padding=2)
    with pytest.raises(ValueError, match="más grande que la entrada"): max_pool2d_im2col(torch.zeros(1, 1, 3, 3), 5)
    with pytest.raises(ValueError, match=_re("x[None, None]")): adaptive_max_pool2d(torch.zeros(7, 7), 3)
    with pytest.raises(ValueError, match="≥ 1"): adaptive_avg_pool2d(torch.zeros(1, 1, 7, 7), 0)
    with pytest.raises(ValueError, match="matriz 2D"): filter_image(torch.zeros(8, 8), torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match="forma de la salida"): conv2d_backward(torch.zeros(1, 2, 3, 3), X1, W1)
    with pytest.raises(ValueError, match="misma forma"):
        max_pool2d_backward(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 3, 3, dtype=torch.long), (1, 1, 6, 6))


# ---------- pooling ----------

def test_max_pool_matches_F_over_grid_values_and_indices():
    gen = torch.Generator().manual_seed(4)
    n = 0
    for (h, w), k, s, p, d in itertools.product([(9, 8), (7, 7), (6, 11)], (1, 2, 3, (3, 2)), (None, 1, 2, (1, 2)), (0, 1), (1, 2)):
        x = torch.randn(2, 3, h, w, generator=gen)
        try: ref, ref_i = F.max_pool2d(x, k, s, p, d, return_indices=True)
        except RuntimeError: continue
        out, ind = max_pool2d_im2col(x, k, s, p, d, return_indices=True)
        assert torch.equal(out, ref) and torch.equal(ind, ref_i), (h, w, k, s, p, d)
        n += 1
    assert n > 100


def test_max_pool_ties_pick_first_like_pytorch():
    x = torch.tensor([[[[1., 1, 0, 2], [1, 1, 2, 2], [3, 0, 0, 0], [0, 3, 0, 0]]]])
    out, ind = max_pool2d_im2col(x, 2, return_indices=True)
    ref, ref_i = F.max_pool2d(x, 2, return_indices=True)
    assert torch.equal(out, ref) and torch.equal(ind, ref_i)


@pytest.mark.parametrize("in_size, out_size", [(7, 3), (10, 4), (8, 4), (5, 5), (3, 7), (13, 1)])
def test_adaptive_pooling_matches_torch(in_size, out_size):
    x = torch.randn(2, 3, in_size, in_size + 2)
    o = (out_size, max(1, out_size - 1))
    assert_close(adaptive_avg_pool2d(x, o), nn.AdaptiveAvgPool2d(o)(x))
    assert_close(adaptive_max_pool2d(x, o), nn.AdaptiveMaxPool2d(o)(x))
    wins = adaptive_windows(in_size, out_size)
    assert wins[0][0] == 0 and wins[-1][1] == in_size and all(a < b for a, b in wins)


def test_adaptive_windows_class_examples():
    assert adaptive_windows(7, 3) == [(0, 3), (2, 5), (4, 7)]
    assert adaptive_windows(10, 4) == [(0, 3), (2, 5), (5, 8), (7, 10)]


# ---------- backward ----------

BACKWARD_CASES = [((2, 3, 9, 8), (4, 3, 3, 3), 1, 0, 1), ((2, 3, 9, 8), (4, 3, 3, 2), 2, 1, 1),
                  ((1, 2, 11, 10), (3, 2, 3, 3), (2, 1), (1, 2), (2, 1)), ((2, 2, 8, 8), (2, 2, 2, 2), 1, "same", 1),
                  ((1, 1, 7, 7), (1, 1, 3, 3), 3, 0, 1), ((2, 1, 5, 5), (3, 1, 5, 5), 1, 2, 1)]


@pytest.mark.parametrize("xs, ws, s, p, d", BACKWARD_CASES)
def test_conv_backward_matches_autograd(xs, ws, s, p, d):
    gen = torch.Generator().manual_seed(5)
    x, w, b, y = conv_inputs_and_reference(xs, ws, s, p, d, gen)
    g = torch.randn(y.shape, generator=gen)
    ref = torch.autograd.grad(y, (x, w, b), g)
    manual = conv2d_backward(g, x.detach(), w.detach(), s, p, d)
    via_function = torch.autograd.grad(conv2d_im2col(x, w, b, s, p, d), (x, w, b), g)
    for got, got_fn, want in zip(manual, via_function, ref):
        assert_close(got, want); assert_close(got_fn, want)


def test_conv_without_bias_gets_no_bias_grad():
    x, w = torch.randn(1, 2, 5, 5, requires_grad=True), torch.randn(3, 2, 3, 3, requires_grad=True)
    gx, gw = torch.autograd.grad(conv2d_im2col(x, w).sum(), (x, w))
    rx, rw = torch.autograd.grad(F.conv2d(x, w).sum(), (x, w))
    assert_close(gx, rx); assert_close(gw, rw)


@pytest.mark.parametrize("k, s, p, d", [(2, None, 0, 1), (2, 1, 1, 1), (3, 2, 1, 1), ((3, 2), 1, 0, (1, 2))])
def test_max_pool_backward_matches_autograd(k, s, p, d):
    x = torch.randn(2, 3, 8, 7, requires_grad=True)
    y = F.max_pool2d(x, k, s, p, d)
    g = torch.randn_like(y)
    ref = torch.autograd.grad(y, x, g)[0]
    out, ind = max_pool2d_im2col(x.detach(), k, s, p, d, return_indices=True)
    assert_close(max_pool2d_backward(g, ind, x.shape), ref)
    assert_close(torch.autograd.grad(MaxPool2dIm2col.apply(x, k, s, p, d)[0], x, g)[0], ref)


@pytest.mark.parametrize("s, p, d", [(1, 0, 1), (2, 1, 1), ((1, 2), (2, 1), (2, 1)), (1, "same", 1)])
def test_gradcheck_conv_float64(s, p, d):
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(2, 2, 6, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(3, 2, 3, 2, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, c, e: Conv2dIm2col.apply(a, c, e, s, p, d), (x, w, b))


@pytest.mark.parametrize("k, s, p, d", [(2, 1, 1, 1), ((3, 2), None, 0, (1, 2))])
def test_gradcheck_max_pool_float64(k, s, p, d):
    x = torch.randn(2, 2, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(7), requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: MaxPool2dIm2col.apply(a, k, s, p, d)[0], (x,))


def test_gradcheck_catches_a_wrong_backward():
    "El control de que gradcheck sí puede fallar: un backward con el gradiente de los pesos al doble."
    class Wrong(Conv2dIm2col):
        @staticmethod
        def backward(ctx, g):
            gx, gw, gb, *rest = Conv2dIm2col.backward(ctx, g)
            return (gx, 2*gw, gb, *rest)
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    assert not torch.autograd.gradcheck(lambda a, c: Wrong.apply(a, c), (x, w), raise_exception=False)


# ---------- campo receptivo, ventanas, filtros, benchmark ----------

def test_receptive_field_formula_and_measured():
    def measured(model, size=41):
        for m in model.modules():
            if isinstance(m, nn.Conv2d): nn.init.constant_(m.weight, 1.); nn.init.constant_(m.bias, 1.)
        x = torch.zeros(1, 1, size, size, requires_grad=True)
        y = model(x)
        y[0, 0, y.shape[-2] // 2, y.shape[-1] // 2].backward()
        rows = x.grad[0, 0].abs().sum(1).nonzero()
        return int(rows.max() - rows.min() + 1)
    for layers in ([nn.Conv2d(1, 1, 5)], [nn.Conv2d(1, 1, 3), nn.ReLU(), nn.Conv2d(1, 1, 3)],
                   [nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3)], [nn.Conv2d(1, 1, 3), nn.AvgPool2d(2), nn.Conv2d(1, 1, 3, dilation=2)]):
        model = nn.Sequential(*layers)
        assert receptive_field(model) == measured(model)
    assert receptive_field([(3, 1, 1)] * 3) == 7


class _Residual(nn.Module):
    def __init__(self): super().__init__(); self.f = nn.Conv2d(1, 1, 3, padding=1)
    def forward(self, x): return x + self.f(x)


class _TwoBranches(nn.Module):
    "Como un bloque Inception: dos ramas con campos receptivos distintos, concatenadas."
    def __init__(self): super().__init__(); self.a, self.b = nn.Conv2d(1, 1, 1), nn.Conv2d(1, 1, 5, padding=2)
    def forward(self, x): return torch.cat([self.a(x), self.b(x)], 1)


def test_receptive_field_refuses_branched_networks():
    for model in (nn.Sequential(nn.Conv2d(1, 1, 3), _Residual()), _Residual(), _TwoBranches(),
                  nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), _TwoBranches()),
                  nn.Sequential(nn.Conv2d(1, 1, 3), nn.Sequential(nn.ReLU(), _Residual()))):
        with pytest.raises(ValueError, match="secuencia simple"):
            receptive_field(model)
    with pytest.raises(ValueError, match="Upsample"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=2)))
    block = lambda a, b: [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
    cnn = nn.Sequential(*block(3, 8), *block(8, 16), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(16, 5))   # como simple_cnn
    assert receptive_field(cnn) == receptive_field([(3, 1, 1), (2, 2, 1)] * 2)   # hasta la cabeza


def test_window_coords_match_unfold():
    for (h, w), k, s, p, d in [((6, 6), 3, 1, 0, 1), ((7, 5), (3, 2), 2, 1, (1, 2)), ((9, 9), 3, (2, 3), 2, 2)]:
        img = (torch.arange(h*w) + 1.).view(1, 1, h, w)
        cols = F.unfold(img, k, dilation=d, padding=p, stride=s)[0]
        Ho, Wo = conv_output_size((h, w), k, s, p, d)
        for i, j in itertools.product(range(Ho), range(Wo)):
            expected = [r*w + c + 1 if 0 <= r < h and 0 <= c < w else 0 for r, c in window_coords(i, j, k, s, p, d)]
            assert cols[:, i*Wo + j].long().tolist() == expected


def test_filter_image_matches_scipy_correlate():
    ndimage = pytest.importorskip("scipy.ndimage")
    import numpy as np
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 17, 3), dtype=np.uint8)
    k = rng.standard_normal((3, 5)).astype(np.float32)
    ours = filter_image(img, k).permute(1, 2, 0).numpy()
    ref = np.stack([ndimage.correlate(img[..., c] / 255., k, mode="constant") for c in range(3)], -1)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_time_interleaved_order_and_median():
    calls, ticks = [], iter(range(100))
    res = time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                           repeats=3, warmup=2, clock=lambda: float(next(ticks)) ** 2)
    assert calls == ["a", "b"] * 5
    # lecturas t0,t1 = 0,1 | 2,3 | … → duraciones (2k+1)² − (2k)² = 4k+1: a ∈ {1, 9, 17}, b ∈ {5, 13, 21}
    assert res == {"a": 9.0, "b": 13.0}


def test_benchmark_conv_small_shapes():
    rows = benchmark_conv([((2, 3, 8, 8), (4, 3, 3, 3))], repeats=2, naive_pairs=3, threads=(1, 2))
    assert [r["hilos"] for r in rows] == [1, 2]
    r = rows[0]
    assert r["entrada"] == "2×3×8×8" and r["lazos_extrapolados"] and r["lazos_medidos"] == "3 de 8 pares"
    assert r["cociente_im2col"] == pytest.approx(r["ms_im2col"] / r["ms_conv2d"])
    assert r["cociente_gemm"] > 0 and r["ms_gemm"] > 0          # contra el F.conv2d de sus propias rondas
    assert r["carga_antes"] >= 0 and r["carga_despues"] >= 0
    text = format_benchmark(rows)
    assert "extrapolados" in text and "2×3×8×8 ⊛ 4×3×3×3" in text and "Carga de la máquina" in text and "GEMM sola" in text
    assert "la GEMM sola:" in im2col_goal(rows)[0][0]
    full = benchmark_conv([((1, 1, 6, 6), (2, 1, 3, 3))], repeats=1, naive_pairs=10, threads=1)
    assert not full[0]["lazos_extrapolados"] and full[0]["lazos_medidos"] == "2 de 2 pares"
    with pytest.raises(ValueError, match="threads"):
        benchmark_conv([((1, 1, 6, 6), (2, 1, 3, 3))], threads=())


def test_im2col_goal_verdicts():
    row = lambda shape, n, r: {"entrada": shape, "pesos": "w", "hilos": n, "cociente_im2col": r}
    verdicts = im2col_goal([row("a", 1, 1.2), row("a", 2, 1.4), row("b", 1, 1.0), row("b", 2, 1.4),
                            row("c", 1, 1.6), row("c", 2, 1.6)])
    assert [ok for _, ok in verdicts] == [True, False, False]
    assert verdicts[0][0].endswith("→ cumple") and verdicts[1][0].endswith("→ NO cumple")


# Ejercicios del cuaderno 04: la comprobación acepta la solución y rechaza respuestas equivocadas.
from vpc2.ejercicios import run_exercise  # noqa: E402


def test_exercise_4_1_conv_out():
    right = lambda n, k, stride=1, padding=0, dilation=1: (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    assert run_exercise("4.1", right).passed
    for wrong in (lambda n, k, stride=1, padding=0, dilation=1: (n + 2 * padding - k) // stride,                # sin el +1
                  lambda n, k, stride=1, padding=0, dilation=1: (n + 2 * padding - k) // stride + 1,            # sin dilatación
                  lambda n, k, stride=1, padding=0, dilation=1: float((n + 2 * padding - k) / stride + 1)):     # sin piso
        r = run_exercise("4.1", wrong)
        assert not r.passed and "caso" in r.message


def test_exercise_4_2_im2col():
    assert run_exercise("4.2", lambda x, k: F.unfold(x[None], k)[0]).passed
    for wrong in (lambda x, k: F.unfold(x[None], k)[0].T,                          # forma traspuesta
                  lambda x, k: F.unfold(x[None], k, padding=1)[0],                 # con padding
                  lambda x, k: F.unfold(x[None].transpose(-1, -2), k)[0]):         # recorre por columnas
        r = run_exercise("4.2", wrong)
        assert not r.passed and "caso" in r.message


def test_exercise_4_3_max_pool_im2col():
    assert run_exercise("4.3", lambda x, k: F.max_pool2d(x, k)).passed
    for wrong in (lambda x, k: F.avg_pool2d(x, k),                                 # promedio
                  lambda x, k: F.max_pool2d(x, k, stride=1),                       # forma equivocada
                  lambda x, k: F.unfold(x, k, stride=k).amax(1).view(x.shape[0], 1, x.shape[2] // k, -1)):   # mezcla canales
        r = run_exercise("4.3", wrong)
        assert not r.passed and "caso" in r.message
