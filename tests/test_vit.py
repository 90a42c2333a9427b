"Pruebas de `vpc2.vit`: cada pieza del ViT contra la referencia de PyTorch o timm, y los errores en español."
import math

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import timm
import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from torch import nn
from torch.testing import assert_close

from torch.utils.data import DataLoader, TensorDataset

from vpc2.vit import (MultiHeadAttention, PatchEmbedding, ViT, ViTBlock, ViTMLP, attention_rollout, cls_attention,
                      frozen_features, patchify, scaled_dot_product_attention, show_attention, small_resnet, small_vit,
                      timm_kwargs)
from vpc2.vit import VIT_FIGURAS_FILE, VIT_FIGURAS_RECIPE, shipped_vit


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _nontrivial_norms(model: nn.Module) -> None:
    "LayerNorm con pesos y sesgos distintos de 1 y 0, para que un error de orden o de nombre se note."
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.5)


# ---- parches ----

def test_patchify_hand_example_and_reshape():
    toy = torch.arange(16.).reshape(1, 1, 4, 4)
    assert patchify(toy, 2)[0].tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    x = torch.randn(2, 3, 12, 8)
    by_hand = x.reshape(2, 3, 3, 4, 2, 4).permute(0, 2, 4, 1, 3, 5).reshape(2, 6, 48)
    assert_close(patchify(x, 4), by_hand)
    assert patchify(torch.zeros(1, 3, 224, 224), 16).shape == (1, 196, 768)


@pytest.mark.parametrize("img,patch,chans", [(32, 4, 3), ((32, 48), (8, 16), 1), (224, 16, 3)])
def test_patch_embedding_equals_unfold_plus_linear(img, patch, chans):
    embed = PatchEmbedding(img, patch, chans, embed_dim=24)
    h, w = (img, img) if isinstance(img, int) else img
    x = torch.randn(2, chans, h, w)
    linear = nn.Linear(embed.proj.weight[0].numel(), 24)
    with torch.no_grad():
        linear.weight.copy_(embed.proj.weight.reshape(24, -1))
        linear.bias.copy_(embed.proj.bias)
    assert_close(embed(x), linear(patchify(x, patch)))
    assert embed(x).shape == (2, embed.num_patches, 24)


def test_patch_errors_are_spanish_and_actionable():
    with pytest.raises(ValueError, match="no se puede cortar en parches"):
        PatchEmbedding(img_size=30, patch_size=4)
    with pytest.raises(ValueError, match="no se puede cortar en parches"):
        patchify(torch.zeros(1, 3, 30, 32), 4)
    with pytest.raises(ValueError, match=r"x\[None\]"):
        patchify(torch.zeros(3, 32, 32), 4)
    with pytest.raises(ValueError, match="entero positivo"):
        PatchEmbedding(img_size=32, patch_size=0)
    with pytest.raises(ValueError, match="in_chans=1"):
        PatchEmbedding(32, 4, 3, 8)(torch.zeros(1, 1, 32, 32))


# ---- atención ----

def test_sdpa_hand_value():
    out, w = scaled_dot_product_attention(torch.tensor([[1., 0.]]), torch.tensor([[1., 0.], [0., 1.]]),
                                          torch.tensor([[1., 2.], [3., 4.]]))
    p = 1 / (1 + math.exp(-1 / math.sqrt(2)))
    assert_close(w, torch.tensor([[p, 1 - p]]))
    assert_close(out, torch.tensor([[p + 3 * (1 - p), 2 * p + 4 * (1 - p)]]))


@pytest.mark.parametrize("mask_kind", [None, "bool", "float"])
def test_sdpa_matches_pytorch(mask_kind):
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 6)
    mask = None
    if mask_kind == "bool":
        mask = torch.rand(5, 7) > 0.4
        mask[:, 0] = True
    elif mask_kind == "float":
        mask = torch.randn(2, 3, 5, 7)
    out, w = scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert_close(w.sum(-1), torch.ones(2, 3, 5))
    if mask_kind == "bool":
        assert w[..., ~mask].abs().max() == 0


def test_sdpa_float64_and_gradients_match_pytorch():
    q, k, v = (torch.randn(2, 4, 9, 16, dtype=torch.float64, requires_grad=True) for _ in range(3))
    ours = scaled_dot_product_attention(q, k, v)[0]
    grads = torch.autograd.grad(ours.sum(), (q, k, v))
    ref = F.scaled_dot_product_attention(q, k, v)
    ref_grads = torch.autograd.grad(ref.sum(), (q, k, v))
    assert_close(ours, ref)
    for g, r in zip(grads, ref_grads): assert_close(g, r)


def test_sdpa_errors():
    q = torch.randn(1, 4, 8)
    with pytest.raises(ValueError, match="misma dimensión"):
        scaled_dot_product_attention(q, torch.randn(1, 4, 6), torch.randn(1, 4, 8))
    with pytest.raises(ValueError, match="cada clave necesita su valor"):
        scaled_dot_product_attention(q, torch.randn(1, 4, 8), torch.randn(1, 3, 8))


@pytest.mark.parametrize("D,h,bias", [(48, 6, True), (32, 1, True), (40, 5, False)])
def test_multihead_attention_matches_nn_multiheadattention(D, h, bias):
    mha = MultiHeadAttention(D, h, qkv_bias=bias).eval()
    ref = nn.MultiheadAttention(D, h, bias=bias, batch_first=True).eval()
    with torch.no_grad():
        mha.qkv.weight.copy_(ref.in_proj_weight)
        if bias: mha.qkv.bias.copy_(ref.in_proj_bias)
        mha.proj.weight.copy_(ref.out_proj.weight)
        mha.proj.bias.copy_(ref.out_proj.bias if bias else torch.zeros(D))
    x = torch.randn(3, 11, D)
    out, w = mha(x, return_attention=True)
    ref_out, ref_w = ref(x, x, x, need_weights=True, average_attn_weights=False)
    assert_close(out, ref_out)
    assert_close(w, ref_w)


def test_multihead_attention_fused_equals_manual_and_sdpa_per_head():
    mha = MultiHeadAttention(48, 4).eval()
    x = torch.randn(2, 9, 48)
    manual = mha(x)
    mha.fused = True
    assert_close(mha(x), manual)
    # por cabeza, con F.scaled_dot_product_attention y las mismas proyecciones
    q, k, v = mha.qkv(x).reshape(2, 9, 3, 4, 12).permute(2, 0, 3, 1, 4)
    heads = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, 9, 48)
    assert_close(mha.proj(heads), manual)


def test_multihead_attention_errors():
    with pytest.raises(ValueError, match="no es divisible por num_heads=3"):
        MultiHeadAttention(100, 3)
    with pytest.raises(ValueError, match=r"\(B, N, 48\)"):
        MultiHeadAttention(48, 4)(torch.randn(2, 5, 40))


def test_attention_dropout_only_in_training():
    mha = MultiHeadAttention(32, 4, attn_dropout=0.5)
    x = torch.randn(2, 7, 32)
    mha.eval()
    assert_close(mha(x), mha(x))
    mha.train()
    assert not torch.allclose(mha(x), mha.eval()(x))


# ---- MLP y bloque ----

def test_mlp_is_linear_gelu_linear():
    mlp = ViTMLP(16, 64, dropout=0.3).eval()
    x = torch.randn(5, 16)
    hidden = x @ mlp.fc1.weight.T + mlp.fc1.bias
    expected = (0.5 * hidden * (1 + torch.erf(hidden / math.sqrt(2)))) @ mlp.fc2.weight.T + mlp.fc2.bias
    assert_close(mlp(x), expected)


@pytest.mark.parametrize("pre_norm", [True, False])
def test_block_matches_transformer_encoder_layer(pre_norm):
    D, h, hidden = 32, 4, 64
    block = ViTBlock(D, h, mlp_ratio=hidden / D, pre_norm=pre_norm).eval()
    _nontrivial_norms(block)
    ref = nn.TransformerEncoderLayer(D, h, hidden, dropout=0.0, activation="gelu", layer_norm_eps=1e-6,
                                     batch_first=True, norm_first=pre_norm).eval()
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(block.attn.qkv.weight)
        ref.self_attn.in_proj_bias.copy_(block.attn.qkv.bias)
        ref.self_attn.out_proj.load_state_dict(block.attn.proj.state_dict())
        ref.linear1.load_state_dict(block.mlp.fc1.state_dict())
        ref.linear2.load_state_dict(block.mlp.fc2.state_dict())
        ref.norm1.load_state_dict(block.norm1.state_dict())
        ref.norm2.load_state_dict(block.norm2.state_dict())
    x = torch.randn(2, 10, D)
    assert_close(block(x), ref(x))
    out, w = block(x, return_attention=True)
    assert_close(out, block(x))
    assert w.shape == (2, h, 10, 10)


def test_block_matches_timm_block():
    from timm.models.vision_transformer import Block
    ref = Block(48, 3, mlp_ratio=4.0, qkv_bias=True).eval()
    ours = ViTBlock(48, 3, mlp_ratio=4.0).eval()
    _nontrivial_norms(ref)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 17, 48)
    assert_close(ours(x), ref(x))


# ---- el ViT completo ----

def _param_count(P, C, N, D, L, Hm, K):
    return (P*P*C*D + D) + D + (N + 1)*D + L*(4*D + 3*D*D + 3*D + D*D + D + 2*D*Hm + Hm + D) + 2*D + D*K + K


def test_vit_shapes_parameters_and_attention_maps():
    vit = ViT(img_size=32, patch_size=4, num_classes=5, embed_dim=64, depth=3, num_heads=4, mlp_ratio=2)
    x = torch.rand(6, 3, 32, 32)
    assert vit(x).shape == (6, 5)
    assert vit.forward_features(x).shape == (6, 65, 64)
    maps = vit.attention_maps(x)
    assert len(maps) == 3 and maps[0].shape == (6, 4, 65, 65)
    assert_close(maps[-1].sum(-1), torch.ones(6, 4, 65))
    assert sum(p.numel() for p in vit.parameters()) == _param_count(4, 3, 64, 64, 3, 128, 5)
    assert _param_count(16, 3, 196, 192, 12, 768, 1000) == 5_717_416          # ViT-Ti/16
    assert _param_count(16, 3, 196, 768, 12, 3072, 1000) == 86_567_656        # ViT-B/16


def test_vit_backward_reaches_every_parameter():
    vit = ViT(img_size=16, patch_size=4, num_classes=3, embed_dim=32, depth=2, num_heads=2)
    F.cross_entropy(vit(torch.rand(4, 3, 16, 16)), torch.tensor([0, 1, 2, 0])).backward()
    missing = [n for n, p in vit.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing


def test_vit_same_seed_same_init_and_fused_same_output():
    torch.manual_seed(3); a = ViT(img_size=16, patch_size=4, num_classes=3, embed_dim=32, depth=2, num_heads=2)
    torch.manual_seed(3); b = ViT(img_size=16, patch_size=4, num_classes=3, embed_dim=32, depth=2, num_heads=2, fused=True)
    x = torch.rand(2, 3, 16, 16)
    assert_close(a.eval()(x), b.eval()(x))


def test_vit_without_positions_is_permutation_equivariant():
    vit = ViT(img_size=16, patch_size=4, num_classes=3, embed_dim=32, depth=2, num_heads=2).eval()
    with torch.no_grad(): vit.pos_embed[:, 1:] = 0
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        a = vit.forward_features(x)[:, 1:].unflatten(1, (4, 4))
        b = vit.forward_features(torch.roll(x, 4, dims=-1))[:, 1:].unflatten(1, (4, 4))
    assert_close(b, torch.roll(a, 1, dims=2), atol=1e-5, rtol=1e-5)


def test_vit_errors():
    vit = ViT(img_size=32, patch_size=4, num_classes=5, embed_dim=64, depth=1, num_heads=4)
    with pytest.raises(ValueError, match="múltiplos del parche"):
        ViT(img_size=30, patch_size=4)
    with pytest.raises(ValueError, match="no es divisible por num_heads"):
        ViT(embed_dim=100, num_heads=3)
    with pytest.raises(ValueError, match="depth=0"):
        ViT(img_size=32, patch_size=4, embed_dim=64, depth=0, num_heads=4)
    with pytest.raises(ValueError, match=r"img_size=\(32, 32\)"):
        vit(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="in_chans=1"):
        vit(torch.rand(1, 1, 32, 32))


# ---- timm ----

@pytest.mark.parametrize("name", ["vit_tiny_patch16_224"])
def test_from_timm_registered_model_same_logits(name):
    ref = timm.create_model(name, pretrained=False).eval()      # pesos al azar: no descarga nada
    ours = ViT.from_timm(ref)
    assert not ours.training
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert_close(ours(x), ref(x), atol=1e-4, rtol=1e-4)
        assert_close(ours.forward_features(x), ref.forward_features(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kwargs", [
    dict(img_size=(32, 48), patch_size=8, in_chans=1, num_classes=7, embed_dim=48, depth=3, num_heads=3,
         mlp_ratio=3.0, qkv_bias=False),
    dict(img_size=24, patch_size=(4, 6), num_classes=0, embed_dim=40, depth=2, num_heads=5),
])
def test_from_timm_custom_config_same_outputs(kwargs):
    ref = VisionTransformer(**kwargs).eval()
    _nontrivial_norms(ref)
    ours = ViT.from_timm(ref)
    h, w = (kwargs["img_size"],) * 2 if isinstance(kwargs["img_size"], int) else kwargs["img_size"]
    x = torch.randn(3, kwargs.get("in_chans", 3), h, w)
    with torch.no_grad():
        assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


def test_vpc2_weights_load_into_timm():
    "El camino inverso: los nombres de vpc2 son los de timm, así que un state_dict de vpc2 carga tal cual en timm."
    ours = ViT(img_size=32, patch_size=4, num_classes=5, embed_dim=64, depth=2, num_heads=4, mlp_ratio=2).eval()
    _nontrivial_norms(ours)
    ref = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=5, img_size=32, patch_size=4,
                            embed_dim=64, depth=2, num_heads=4, mlp_ratio=2).eval()
    ref.load_state_dict(ours.state_dict())
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


def test_timm_loads_vpc2_weights_from_local_file(tmp_path):
    """El camino sin red de la política de pesos: timm lee un archivo local con pretrained_cfg_overlay=dict(file=...).
    `custom_load=False`: es un .pth de PyTorch; sin eso, timm < 1.0.31 lo lee como el .npz de JAX de los ViT de Google."""
    ours = ViT(img_size=32, patch_size=4, num_classes=5, embed_dim=64, depth=2, num_heads=4, mlp_ratio=2)
    path = tmp_path/"pesos.pth"
    torch.save(ours.state_dict(), path)
    ref = timm.create_model("vit_tiny_patch16_224", pretrained=True, num_classes=10,
                            pretrained_cfg_overlay=dict(file=str(path), custom_load=False), img_size=32, patch_size=4,
                            embed_dim=64, depth=2, num_heads=4, mlp_ratio=2)
    source = ours.state_dict()
    for k, v in ref.state_dict().items():
        if not k.startswith("head."): assert torch.equal(v, source[k]), k
    assert ref.head.out_features == 10


def test_from_timm_errors():
    small = dict(img_size=32, patch_size=8, embed_dim=48, depth=1, num_heads=3)
    with pytest.raises(TypeError, match="VisionTransformer de timm"):
        ViT.from_timm(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="tokens de registro"):
        ViT.from_timm(VisionTransformer(**small, reg_tokens=2))
    with pytest.raises(ValueError, match="LayerScale"):
        ViT.from_timm(VisionTransformer(**small, init_values=1e-5))
    with pytest.raises(ValueError, match="global_pool='avg'"):
        ViT.from_timm(VisionTransformer(**small, global_pool="avg"))
    with pytest.raises(ValueError, match="normalización de consultas"):
        ViT.from_timm(VisionTransformer(**small, qk_norm=True))
    with pytest.raises(ValueError, match="vit_tiny_patch16_224"):
        ViT.from_timm(VisionTransformer(**small, class_token=False, global_pool="avg"))


# ---- mapas de atención ----

def test_attention_rollout_by_hand():
    A1, A2 = torch.softmax(torch.randn(2, 3, 5, 5), -1), torch.softmax(torch.randn(2, 3, 5, 5), -1)
    I = torch.eye(5)
    assert_close(attention_rollout([A1]), 0.5 * A1.mean(1) + 0.5 * I)
    assert_close(attention_rollout([A1, A2]), (0.5 * A2.mean(1) + 0.5 * I) @ (0.5 * A1.mean(1) + 0.5 * I))
    assert_close(attention_rollout([A1, A2], residual=False), A2.mean(1) @ A1.mean(1))
    assert_close(attention_rollout([A1, A2, A1], head_fusion="max").sum(-1), torch.ones(2, 5))
    assert_close(attention_rollout([I.expand(1, 2, 5, 5)] * 3), I.expand(1, 5, 5))


def test_cls_attention_and_errors():
    assert cls_attention(torch.arange(25.).reshape(5, 5), (2, 2)).tolist() == [[1., 2.], [3., 4.]]
    assert cls_attention(torch.rand(2, 3, 17, 17), (4, 4)).shape == (2, 3, 4, 4)
    with pytest.raises(ValueError, match="necesita 10"):
        cls_attention(torch.rand(2, 5, 5), (3, 3))
    with pytest.raises(ValueError, match="al menos un bloque"):
        attention_rollout([])
    with pytest.raises(ValueError, match="'mean', 'max' o 'min'"):
        attention_rollout([torch.rand(1, 2, 3, 3)], head_fusion="median")
    with pytest.raises(ValueError, match=r"\(B, cabezas, N, N\)"):
        attention_rollout([torch.rand(2, 3, 3)])


def test_show_attention_draws_and_validates():
    img, grid = torch.rand(3, 32, 32), torch.rand(8, 8)
    ax = show_attention(img, grid, title="prueba")
    assert len(ax.images) == 2 and ax.images[1].get_array().shape == (32, 32)
    plt.close("all")
    with pytest.raises(ValueError, match="mapas\\[0\\]"):
        show_attention(img, torch.rand(2, 8, 8))


# ---- modelos chicos, timm_kwargs y características congeladas ----

def test_small_models_shapes_and_errors():
    assert small_vit(10, 1, 16)(torch.zeros(2, 1, 16, 16)).shape == (2, 10)
    assert len(small_vit(5, depth=2).blocks) == 2
    assert small_resnet(5)(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    assert small_resnet(3, 1, widths=(8,))(torch.zeros(2, 1, 16, 16)).shape == (2, 3)
    with pytest.raises(ValueError, match="al menos una etapa"):
        small_resnet(5, widths=())


def test_timm_kwargs_round_trip():
    ours = ViT(img_size=(16, 24), patch_size=(4, 8), in_chans=1, num_classes=3, embed_dim=32, depth=2, num_heads=4,
               mlp_ratio=3.0, qkv_bias=False).eval()
    _nontrivial_norms(ours)
    ref = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3, **timm_kwargs(ours)).eval()
    ref.load_state_dict(ours.state_dict())                       # estricto
    x = torch.randn(2, 1, 16, 24)
    with torch.no_grad():
        assert_close(ref(x), ours(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["vpc2", "timm"])
def test_frozen_features_feed_the_head(kind):
    model = small_vit(4, 1, 16, depth=1)
    if kind == "timm":
        model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=4, **timm_kwargs(model))
    model.train()                                               # frozen_features pasa a evaluación (sin dropout)
    x, y = torch.rand(7, 1, 16, 16), torch.arange(7)
    feats = frozen_features(model, DataLoader(TensorDataset(x, y), batch_size=3))
    assert feats.tensors[0].shape == (7, 64) and feats.tensors[1].tolist() == list(range(7))
    assert not model.training
    with torch.no_grad():
        assert_close(model.head(feats.tensors[0]), model(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="ningún lote"):
        frozen_features(model, DataLoader(TensorDataset(torch.rand(0, 1, 16, 16), torch.zeros(0))))


# Ejercicios del cuaderno 08: la comprobación acepta la solución y rechaza respuestas equivocadas.
from vpc2.ejercicios import run_exercise  # noqa: E402


def _patches(x, p, order=(0, 2, 4, 1, 3, 5)):
    B, C, H, W = x.shape
    return x.view(B, C, H // p, p, W // p, p).permute(*order).reshape(B, (H // p) * (W // p), C * p * p)


def test_exercise_8_1_patchify_reshape():
    assert run_exercise("8.1", _patches).passed
    for wrong in (lambda x, p: _patches(x, p, (0, 2, 4, 3, 5, 1)),        # canal al final (orden de einops/HWC)
                  lambda x, p: _patches(x, p, (0, 4, 2, 1, 3, 5)),        # parches por columnas
                  lambda x, p: F.unfold(x, p).transpose(1, 2)):           # ventanas solapadas (paso 1)
        r = run_exercise("8.1", wrong)
        assert not r.passed and "caso" in r.message


def test_exercise_8_2_attention():
    def right(q, k, v, attn_mask=None):
        s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if attn_mask is not None: s = s.masked_fill(~attn_mask, float("-inf"))
        return s.softmax(-1) @ v
    assert run_exercise("8.2", right).passed
    for wrong in (lambda q, k, v, attn_mask=None: F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=1.0),   # sin escalar
                  lambda q, k, v, attn_mask=None: F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=1 / q.shape[-1]),  # ÷ d
                  lambda q, k, v, attn_mask=None: (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-2) @ v,   # softmax sobre consultas
                  lambda q, k, v, attn_mask=None: F.scaled_dot_product_attention(q, k, v)):                              # ignora la máscara
        r = run_exercise("8.2", wrong)
        assert not r.passed and "caso" in r.message


def _block_params(d, r=4.0, norms=True, biases=True):
    h = int(d * r)
    return (4 * d if norms else 0) + 4 * d * d + 2 * d * h + ((3 * d + d + h + d) if biases else 0)


def test_exercise_8_3_vit_block_params():
    assert run_exercise("8.3", _block_params).passed
    for wrong in (lambda d, r=4.0: _block_params(d, r, biases=False),      # sin sesgos
                  lambda d, r=4.0: _block_params(d, r, norms=False),       # sin LayerNorm
                  lambda d, r=4.0: _block_params(d)):                      # ignora mlp_ratio
        r = run_exercise("8.3", wrong)
        assert not r.passed and "caso" in r.message


# ---- el ViT de Figuras que trae el paquete ----
def test_shipped_vit_loads_verified_weights():
    model, meta = shipped_vit()
    assert isinstance(model, ViT) and not model.training
    assert meta["receta"] == VIT_FIGURAS_RECIPE               # el archivo es el de la receta del módulo
    assert meta["exactitud_prueba"] >= 0.85                   # vale la pena transferirlo
    x = torch.rand(2, 3, VIT_FIGURAS_RECIPE["size"], VIT_FIGURAS_RECIPE["size"])
    assert model(x).shape == (2, 5)


def test_shipped_vit_rejects_damaged_or_missing_file(tmp_path):
    from vpc2.vit import shipped_vit as load
    import importlib.resources
    good = (importlib.resources.files("vpc2")/"pesos"/VIT_FIGURAS_FILE).read_bytes()
    (tmp_path/VIT_FIGURAS_FILE).write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(RuntimeError, match="dañados"):
        load(tmp_path)
    with pytest.raises(FileNotFoundError, match="make_vit_figuras"):
        load(tmp_path/"vacía")
