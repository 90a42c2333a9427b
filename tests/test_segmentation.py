"Pruebas de vpc2.segmentation: convolución transpuesta, U-Net, pérdidas y métricas contra sus referencias, errores en español."
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.testing import assert_close
from torchmetrics.classification import MulticlassF1Score, MulticlassJaccardIndex

from vpc2.data import Figuras
from vpc2.segmentation import (ASPP, IGNORE, UNet, bilinear_kernel, boundary_band, check_segmentation_masks, class_weights,
                               colorize_mask, conv_transpose2d, dice_loss, dice_score, evaluate_instances, figuras_trimap,
                               fully_convolutional, instance_losses, instance_masks, mean_iou, one_hot_mask, panoptic_quality,
                               pets_segmentation, pixel_accuracy, semantic_tensors, tiny_maskrcnn, trimap_to_mask)
from vpc2.train import simple_cnn


@pytest.mark.parametrize("k,s,p,op", [(3, 1, 0, 0), (2, 2, 0, 0), (3, 2, 1, 1), (4, 2, 1, 0), (5, 3, 2, 1)])
def test_conv_transpose2d_matches_pytorch(k, s, p, op):
    torch.manual_seed(k*10 + s)
    x, w, b = torch.randn(2, 3, 4, 6), torch.randn(3, 5, k, k), torch.randn(5)
    assert_close(conv_transpose2d(x, w, b, s, p, op), F.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op))


def test_conv_transpose2d_errors():
    with pytest.raises(ValueError, match="al revés que en Conv2d"):
        conv_transpose2d(torch.randn(1, 3, 4, 4), torch.randn(4, 3, 3, 3))
    with pytest.raises(ValueError, match="desempata"):
        conv_transpose2d(torch.randn(1, 3, 4, 4), torch.randn(3, 3, 3, 3), stride=2, output_padding=2)


def test_bilinear_kernel_is_bilinear_inside():
    x = torch.randn(1, 2, 5, 7)
    up = F.conv_transpose2d(x, bilinear_kernel(2, 4), stride=2, padding=1)
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert_close(up[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2])



@pytest.mark.parametrize("k", [4, 5, 8, 9])
def test_bilinear_kernel_docstring_formula_even_and_odd_k(k):
    "El docstring: ConvTranspose2d(C, C, k, stride=(k + 1)//2, padding=(k + 1)//4) sube ×s como la bilineal (k par e impar)."
    s, p = (k + 1)//2, (k + 1)//4
    x = torch.randn(1, 2, 6, 7)
    up = F.conv_transpose2d(x, bilinear_kernel(2, k), stride=s, padding=p)
    ref = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
    assert up.shape == ref.shape == (1, 2, 6*s, 7*s)
    assert_close(up[..., s:-s, s:-s], ref[..., s:-s, s:-s])
    assert "(k + 1)//2" in bilinear_kernel.__doc__ and "(k + 1)//4" in bilinear_kernel.__doc__

def test_fully_convolutional_averages_to_classifier(one_thread):
    clf = simple_cnn(5).eval()
    fcn = fully_convolutional(clf).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad(): assert_close(fcn(x).mean((2, 3)), clf(x))
    with pytest.raises(ValueError, match="Flatten, Linear"): fully_convolutional(torch.nn.Sequential(torch.nn.ReLU()))


@pytest.mark.parametrize("h,w", [(32, 32), (33, 47), (9, 16)])
def test_unet_any_size(one_thread, h, w):
    assert UNet(3, num_classes=4, base_channels=4, depth=3)(torch.randn(2, 3, h, w)).shape == (2, 4, h, w)


def test_unet_errors(one_thread):
    net = UNet(3, 2, base_channels=4, depth=3)
    with pytest.raises(ValueError, match=r"x\[None\]"): net(torch.randn(3, 16, 16))
    with pytest.raises(ValueError, match="2\\*\\*depth"): net(torch.randn(1, 3, 4, 16))
    with pytest.raises(ValueError, match="depth >= 1"): UNet(3, 2, depth=0)


def test_check_segmentation_masks_errors():
    m = torch.randint(0, 3, (2, 8, 8))
    with pytest.raises(TypeError, match="enteros"): check_segmentation_masks(m.float(), 3)
    with pytest.raises(ValueError, match="nearest"): check_segmentation_masks(m, 3, images=torch.zeros(2, 3, 8, 9))
    with pytest.raises(ValueError, match="num_classes=2"): check_segmentation_masks(m, 2)
    assert check_segmentation_masks(torch.where(m > 1, IGNORE, m), 2, ignore_index=IGNORE).dtype == torch.int64


def test_mask_formats():
    m = torch.tensor([[0, 2], [1, 1]])
    assert one_hot_mask(m, 3).argmax(0).tolist() == m.tolist()
    binary, ids = instance_masks(torch.tensor([[0, 3], [5, 5]]))
    assert ids.tolist() == [3, 5] and binary.sum().item() == 3


@pytest.mark.parametrize("ignore", [None, 0, 2, 255])
def test_mean_iou_equals_torchmetrics(ignore):
    g = torch.Generator().manual_seed(3)
    p, t = torch.randint(0, 5, (3, 12, 10), generator=g), torch.randint(0, 5, (3, 12, 10), generator=g)
    t[t == 4] = 1; p[p == 4] = 1                    # una clase ausente
    if ignore is not None: t[:, :3] = ignore
    ref = MulticlassJaccardIndex(5, average="macro", ignore_index=ignore)(p, t).item()
    assert mean_iou(p, t, 5, ignore_index=ignore)[0] == pytest.approx(ref, abs=1e-6)
    if ignore is None:
        f1 = MulticlassF1Score(5, average="macro", multidim_average="global")(p, t).item()
        assert dice_score(p, t, 5)[0] == pytest.approx(f1, abs=1e-6)
        assert pixel_accuracy(t, t, 5) == 1.0


def test_metric_errors():
    t = torch.randint(0, 3, (2, 8, 8))
    with pytest.raises(TypeError, match=r"argmax\(1\)"): mean_iou(torch.randn(2, 3, 8, 8), t, 3)
    with pytest.raises(ValueError, match="misma forma"): mean_iou(t[:, :4], t, 3)
    with pytest.raises(ValueError, match="num_classes=3"): mean_iou(t, t + 1, 3)


def test_dice_loss_equals_smp():
    smp = pytest.importorskip("segmentation_models_pytorch")
    torch.manual_seed(0)
    logits, t = torch.randn(2, 4, 8, 8), torch.randint(0, 3, (2, 8, 8))
    assert_close(dice_loss(logits, t), smp.losses.DiceLoss("multiclass")(logits, t))
    with pytest.raises(ValueError, match="nearest"): dice_loss(logits, t[:, :4])


def test_class_weights():
    assert_close(class_weights(torch.tensor([[0, 0, 0, 1]]), 3), torch.tensor([2/3, 2.0, 0.0]))


def test_semantic_tensors_and_trimaps():
    ds = semantic_tensors(Figuras(3, 32, task="segmentation"))
    x, y = ds.tensors
    assert x.shape == (3, 3, 32, 32) and y.dtype == torch.int64 and y.max() < 6
    with pytest.raises(ValueError, match='task="segmentation"'): semantic_tensors(Figuras(2, 32, task="detection"))
    assert trimap_to_mask(np.array([[1, 2, 3]])).tolist() == [[1, 0, IGNORE]]
    with pytest.raises(ValueError, match="ToTensor"): trimap_to_mask(np.array([[0, 1]]))
    _, target = Figuras(1, 32, task="segmentation")[0]
    assert set(figuras_trimap(target).unique().tolist()) == {0, 1, IGNORE}


def _fake_pets(root, names):
    "Carpeta con el formato en disco de torchvision.datasets.OxfordIIITPet (imágenes, trimapas y lista de partición)."
    base = root/"oxford-iiit-pet"
    (base/"images").mkdir(parents=True); (base/"annotations"/"trimaps").mkdir(parents=True)
    lines = []
    for i, name in enumerate(names):
        Image.fromarray(np.full((20, 30, 3), 40*i, np.uint8)).save(base/"images"/f"{name}.jpg")
        trimap = np.full((20, 30), 2, np.uint8); trimap[5:15, 8:20] = 1; trimap[5, 8:20] = 3
        Image.fromarray(trimap).save(base/"annotations"/"trimaps"/f"{name}.png")
        lines.append(f"{name} 1 1 1")
    for split in ("trainval", "test"): (base/"annotations"/f"{split}.txt").write_text("\n".join(lines) + "\n")


def test_pets_segmentation_reads_real_format(tmp_path, capsys):
    _fake_pets(tmp_path, ["Abyssinian_1", "Abyssinian_2"])
    ds = pets_segmentation(True, size=16, root=tmp_path, download=False)
    x, y = ds[0]
    assert x.shape == (3, 16, 16) and y.shape == (16, 16)
    assert set(y.unique().tolist()) <= {0, 1, IGNORE} and (y == 1).any()
    assert "Aviso" not in capsys.readouterr().out


def test_pets_segmentation_falls_back_to_figuras(tmp_path, capsys):
    ds = pets_segmentation(True, size=32, n=4, root=tmp_path, download=False)
    assert "Figuras" in capsys.readouterr().out
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and set(y.unique().tolist()) <= {0, 1, IGNORE}


def test_tiny_maskrcnn_trains_and_evaluates(one_thread):
    torch.manual_seed(0)
    ds = Figuras(2, 48, task="segmentation")
    data = [(torch.from_numpy(img).permute(2, 0, 1).float()/255, {k: t[k] for k in ("boxes", "labels", "masks")}) for img, t in ds]
    model = tiny_maskrcnn(6, 48)
    model.train()
    losses = model([x for x, _ in data], [t for _, t in data])
    assert {"loss_mask", "loss_classifier"} <= set(losses)
    sum(losses.values()).backward()
    result = evaluate_instances(model, data)
    assert 0.0 <= result["map_50"] <= 1.0 or result["map_50"] == -1
    with pytest.raises(ValueError, match="fondo"): tiny_maskrcnn(1, 48)
    with pytest.raises(ValueError, match="body_layers"): tiny_maskrcnn(6, 48, body_layers=1)


def test_class_weights_eigen_fergus():
    "f_c se mide sobre las imágenes que contienen la clase c (Eigen y Fergus, 2015), no sobre todo el conjunto."
    masks = torch.tensor([[[0, 0], [0, 0]], [[0, 0], [1, 1]]])
    assert_close(class_weights(masks, 2), torch.tensor([5/6, 5/4]))


def test_unet_without_skips_same_parameters(one_thread):
    a, b = UNet(3, 4, 4, depth=2), UNet(3, 4, 4, depth=2, skips=False)
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    b.load_state_dict(a.state_dict()); a.eval(); b.eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad(): assert not torch.allclose(a(x), b(x))


def test_dice_loss_formula_divides_by_all_classes():
    torch.manual_seed(1)
    logits, t = torch.randn(2, 5, 6, 6), torch.randint(0, 3, (2, 6, 6))        # clases 3 y 4 ausentes
    p, oh = logits.softmax(1), F.one_hot(t, 5).permute(0, 3, 1, 2).float()
    d = 2*(p*oh).sum((0, 2, 3))/(p + oh).sum((0, 2, 3))
    assert_close(dice_loss(logits, t), (1 - d[:3]).sum()/5)


def test_aspp_equals_torchvision(one_thread):
    from torchvision.models.segmentation.deeplabv3 import ASPP as TorchvisionASPP
    torch.manual_seed(0)
    ref = TorchvisionASPP(8, (1, 2, 4), 12)
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(); m.running_var.uniform_(0.5, 2.0); m.weight.data.normal_(); m.bias.data.normal_()
    ours = ASPP(8, (1, 2, 4), 12)
    ours.load_state_dict(ref.state_dict())
    ref.eval(); ours.eval()
    x = torch.randn(2, 8, 11, 7)
    with torch.no_grad(): assert_close(ours(x), ref(x))
    with pytest.raises(ValueError, match="enteros positivos"): ASPP(8, (0,), 4)


def _blocky_panoptic(g, n=2):
    cat = torch.randint(0, 4, (n, 4, 5), generator=g).repeat_interleave(3, 1).repeat_interleave(2, 2)
    inst = torch.randint(0, 3, (n, 3, 2), generator=g).repeat_interleave(4, 1).repeat_interleave(5, 2)
    return torch.stack([cat, inst], -1)


@pytest.mark.parametrize("seed", range(6))
def test_panoptic_quality_equals_torchmetrics(seed):
    from torchmetrics.detection import PanopticQuality
    g = torch.Generator().manual_seed(seed)
    target = _blocky_panoptic(g)
    preds = torch.roll(target, shifts=(seed % 3, 1), dims=(1, 2)).clone() if seed % 2 else _blocky_panoptic(g)
    if seed % 3 == 0: target[:, :3, :, 0] = 8                        # categoría desconocida en el objetivo: void
    ref = PanopticQuality(things={1, 2}, stuffs={0, 3}, return_sq_and_rq=True)(preds, target)
    assert_close(torch.tensor(panoptic_quality(preds, target, {1, 2}, {0, 3}), dtype=torch.float64), ref.double(),
                 atol=1e-6, rtol=0)


def test_panoptic_quality_perfect_and_errors():
    target = torch.zeros(1, 6, 6, 2, dtype=torch.long)
    target[0, 1:4, 1:4] = torch.tensor([1, 1]); target[0, 4:6, 3:6] = torch.tensor([1, 2])
    assert panoptic_quality(target, target, {1}, {0}) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="agregala"): panoptic_quality(target + 5, target, {1}, {0})
    with pytest.raises(ValueError, match="una sola"): panoptic_quality(target, target, {0, 1}, {0})
    with pytest.raises(ValueError, match=r"\(N, H, W, 2\)"): panoptic_quality(target[..., 0], target[..., 0], {1}, {0})



def test_panoptic_quality_per_category_averages_to_pq():
    "PQ es el promedio de SQ_c·RQ_c por categoría, no el producto de los promedios; per_category lo muestra."
    target = torch.zeros(1, 8, 8, 2, dtype=torch.long)
    target[0, 1:5, 1:5] = torch.tensor([1, 1]); target[0, 5:8, 5:8] = torch.tensor([2, 1])
    preds = target.clone(); preds[0, 1:5, 1:2] = 0; preds[0, 5:8, 5:8] = 0          # cosa 1 con IoU 0,75, cosa 2 perdida
    pq, sq, rq = panoptic_quality(preds, target, {1, 2}, {0})
    per = panoptic_quality(preds, target, {1, 2}, {0}, per_category=True)
    assert set(per) == {0, 1, 2}
    assert abs(pq - sum(v[0] for v in per.values())/3) < 1e-9
    assert all(abs(v[0] - v[1]*v[2]) < 1e-9 for v in per.values())
    assert abs(pq - sq*rq) > 0.05

def test_boundary_band_and_colors():
    m = torch.zeros(6, 6, dtype=torch.long); m[2:4, 2:4] = 1
    band = boundary_band(m)
    assert band[2, 2] and band[1, 1] and not band[0, 0] and not band[5, 5]
    assert colorize_mask(torch.tensor([[0, IGNORE]]), 2)[0, 1].tolist() == [1.0, 1.0, 1.0]


def test_figuras_trimap_band_is_one_pixel_outside():
    _, target = Figuras(1, 32, task="segmentation", seed=2)[0]
    tm = figuras_trimap(target)
    assert not ((tm == IGNORE) & (target["semantic"] > 0)).any()
    assert ((tm == 1) == (target["semantic"] > 0)).all()


def test_instance_losses_leave_model_unchanged(one_thread):
    torch.manual_seed(0)
    ds = Figuras(2, 48, task="segmentation")
    data = [(torch.from_numpy(img).permute(2, 0, 1).float()/255, {k: t[k] for k in ("boxes", "labels", "masks")}) for img, t in ds]
    model = tiny_maskrcnn(6, 48).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = instance_losses(model, data)
    assert "loss_mask" in losses and not model.training
    for k, v in model.state_dict().items(): assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("label,wrong", [
    ("10.1", lambda h, k, s, p, op: (h - 1)*s - p + k + op),                 # padding una sola vez
    ("10.1", lambda h, k, s, p, op: h*s),                                    # el tamaño ×s, sin mirar k ni p
    ("10.2", lambda p, t, k: float(((p == t).float().mean()))),              # exactitud por píxel
    ("10.2", lambda p, t, k: float(sum(((p == c) & (t == c)).sum()/((p == c) | (t == c)).sum().clamp(min=1)
                                       for c in range(k))/k)),              # promedia también las clases ausentes
    ("10.3", lambda p, t, k: float(mean_iou(p, t, k)[0])),                   # el mIoU de conjunto
    ("10.3", lambda p, t, k: float(torch.tensor([mean_iou(p[i:i + 1], t[i:i + 1], k)[0] for i in range(len(p))]).mean())),
])
def test_exercises_reject_wrong_answers(label, wrong):
    from vpc2.ejercicios import run_exercise
    r = run_exercise(label, wrong)
    assert not r.passed and "caso" in r.message, r.message


def test_exercise_solutions_pass():
    from vpc2.ejercicios import run_exercise
    def pairwise(p, t, k):
        ious = [((a == c) & (b == c)).sum().item()/((a == c) | (b == c)).sum().item()
                for a, b in zip(p, t) for c in range(k) if ((a == c) | (b == c)).any()]
        return sum(ious)/len(ious)
    assert run_exercise("10.1", lambda h, k, s, p, op: (h - 1)*s - 2*p + k + op).passed
    assert run_exercise("10.2", lambda p, t, k: mean_iou(p, t, k)[0]).passed
    assert run_exercise("10.3", pairwise).passed


def test_finetune_penn_fudan_offline(tmp_path, one_thread):
    "El camino con red, sin red: una carpeta Penn-Fudan chica en el formato real y una Mask R-CNN sin pesos, una época."
    from vpc2.detection import load_penn_fudan
    from vpc2.segmentation import finetune_penn_fudan, pretrained_maskrcnn
    for sub in ("PNGImages", "PedMasks"): (tmp_path/"PennFudanPed"/sub).mkdir(parents=True)
    for i in range(3):
        m = np.zeros((48, 64), np.uint8); m[5:30, 8 + 4*i:24 + 4*i] = 1; m[10:44, 40:56] = 2
        Image.fromarray((np.random.default_rng(i).random((48, 64, 3))*255).astype(np.uint8)).save(
            tmp_path/"PennFudanPed"/"PNGImages"/f"FudanPed{i:05d}.png")
        Image.fromarray(m).save(tmp_path/"PennFudanPed"/"PedMasks"/f"FudanPed{i:05d}_mask.png")
    model = pretrained_maskrcnn(2, weights=None, weights_backbone=None, min_size=48, max_size=64)
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 2
    before, after = finetune_penn_fudan(load_penn_fudan(tmp_path, download=False), model, epochs=1, n_valid=1)
    assert {"map", "map_50"} <= set(after) and -1 <= after["map_50"] <= 1
