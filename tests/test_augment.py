"Pruebas de vpc2.augment: errores claros, cajas y máscaras alineadas, mixup/cutmix contra torchvision, TTA."
import albumentations as A
import cv2
import kornia.augmentation as K
import numpy as np
import pytest
import torch
from albumentations.pytorch import ToTensorV2
from torch import nn
from torch.testing import assert_close
from torch.utils.data import DataLoader
from torchvision import tv_tensors
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from vpc2.augment import (AugmentedDataset, MixCollate, as_soft_labels, augment_image, benchmark_pipelines,
                          box_mask_excess, check_alignment, check_boxes_xyxy, cutmix, cutmix_box, tta_hflip, tta_identity,
                          log_augmented_batch, make_pipeline, mixup, save_augmented_copies, show_augmentations,
                          tta_predict, wrapper_overhead)
from vpc2.core import seed_everything
from vpc2.data import FIGURAS_CLASSES, Figuras, image_to_tensor

BBOX = A.BboxParams(format="pascal_voc", label_fields=["labels"], min_visibility=0.2)


@pytest.fixture(scope="module")
def seg():
    return Figuras(12, 80, task="segmentation", seed=5, n_figures=(3, 5), occlusion=True)


def geometric_albumentations():
    return A.Compose([A.RandomResizedCrop(size=(80, 80), scale=(0.3, 1.0), mask_interpolation=cv2.INTER_NEAREST_EXACT),
                      A.HorizontalFlip(), A.VerticalFlip(), A.Affine(rotate=(-45, 45), scale=(0.8, 1.2), p=0.8)],
                     bbox_params=BBOX)


def geometric_torchvision():
    return v2.Compose([v2.RandomResizedCrop(80, scale=(0.3, 1.0), antialias=True), v2.RandomHorizontalFlip(),
                       v2.RandomVerticalFlip(), v2.RandomApply([v2.RandomRotation(45)], p=0.8),
                       v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=2)])


class ListDataset(torch.utils.data.Dataset):
    "Conjunto mínimo con ítems dados (para armar entradas malas a propósito)."
    def __init__(self, items): self.items = items
    def __len__(self): return len(self.items)
    def __getitem__(self, i): return self.items[i]


# ------------------------------------------------------------------ entradas malas
def test_float_image_is_rejected():
    ds = Figuras(2, 32, seed=0, transform=image_to_tensor)            # tensores float: el error típico
    with pytest.raises(TypeError, match="ToTensorV2"):
        AugmentedDataset(ds, A.Compose([A.HorizontalFlip()]))[0]
    img = Figuras(1, 32, seed=0)[0][0]
    with pytest.raises(TypeError, match="uint8"):
        AugmentedDataset(ListDataset([(img / 255.0, 0)]), A.Compose([A.HorizontalFlip()]))[0]


def test_boxes_in_wrong_format(seg):
    img, t = seg[0]
    xywh = torch.cat([t["boxes"][:, :2], t["boxes"][:, 2:] - t["boxes"][:, :2]], 1)
    bad = ListDataset([(img, dict(t, boxes=xywh))])
    with pytest.raises(ValueError, match="box_convert"):
        AugmentedDataset(bad, geometric_albumentations())[0]
    with pytest.raises(ValueError, match="normalizadas"):
        AugmentedDataset(ListDataset([(img, dict(t, boxes=t["boxes"] / 80))]), geometric_torchvision())[0]
    with pytest.raises(ValueError, match="se salen"):
        check_boxes_xyxy(t["boxes"] + 60, 80, 80)
    with pytest.raises(ValueError, match=r"\(K, 4\)"):
        check_boxes_xyxy(torch.zeros(3, 5), 80, 80)


def test_mask_of_another_size(seg):
    img, t = seg[0]
    small = dict(t, masks=t["masks"][:, ::2, ::2])
    with pytest.raises(ValueError, match="píxel a píxel"):
        AugmentedDataset(ListDataset([(img, small)]), geometric_albumentations())[0]
    with pytest.raises(ValueError, match="píxel a píxel"):
        AugmentedDataset(ListDataset([(img, dict(t, semantic=t["semantic"][:40]))]), geometric_torchvision())[0]
    with pytest.raises(ValueError, match="una máscara por caja"):
        AugmentedDataset(ListDataset([(img, dict(t, masks=t["masks"][:1]))]), geometric_albumentations())[0]


def test_albumentations_pipeline_must_know_about_boxes(seg):
    with pytest.raises(ValueError, match="bbox_params"):
        AugmentedDataset(seg, A.Compose([A.HorizontalFlip()]))[0]
    coco = A.Compose([A.HorizontalFlip()], bbox_params=A.BboxParams(format="coco", label_fields=["labels"]))
    with pytest.raises(ValueError, match="pascal_voc"):
        AugmentedDataset(seg, coco)[0]
    no_labels = A.Compose([A.HorizontalFlip()], bbox_params=A.BboxParams(format="pascal_voc"))
    with pytest.raises(ValueError, match="label_fields"):
        AugmentedDataset(seg, no_labels)[0]


def test_bad_pipelines():
    ds = Figuras(2, 32, seed=0)
    with pytest.raises(TypeError, match="lotes"):
        AugmentedDataset(ds, K.AugmentationSequential(K.RandomHorizontalFlip()))
    with pytest.raises(TypeError, match="no se puede aplicar"):
        AugmentedDataset(ds, "espejo")
    with pytest.raises(ValueError, match="seed_everything"):
        AugmentedDataset(ds, v2.RandomHorizontalFlip(), seed=0)
    with pytest.raises(ValueError, match="Biblioteca desconocida"):
        make_pipeline("opencv")


# ------------------------------------------------------------------ cajas y máscaras
@pytest.mark.parametrize("make", [geometric_albumentations, geometric_torchvision], ids=["albumentations", "torchvision"])
def test_boxes_masks_and_image_stay_aligned(seg, make):
    seed_everything(0)
    ds = AugmentedDataset(seg, make())
    checked_colors = 0
    for r in range(36):
        i = r % len(seg)
        img, t = ds[i]
        n = len(t["boxes"])
        assert len(t["labels"]) == n and len(t["masks"]) == n
        assert t["boxes"].dtype == torch.float32 and t["labels"].dtype == torch.int64
        assert t["masks"].dtype == torch.uint8 and t["semantic"].dtype == torch.int64
        h, w = t["semantic"].shape
        image_hw = img.shape[:2] if isinstance(img, np.ndarray) else tuple(img.shape[-2:])
        assert tuple(t["masks"].shape[-2:]) == (h, w) == tuple(image_hw)
        figures = seg.render(i).figures
        colors = [f.color for f in figures] if n == len(figures) else None
        res = check_alignment(img, t, colors)
        assert res["cajas"] and res["semántica"], (r, res)
        assert res["exceso"] <= 1.5, res
        if colors is not None:
            assert res["colores"], (r, res)
            checked_colors += 1
        if n:   # las cajas siguen dentro de la imagen
            assert t["boxes"].min() >= -1e-3 and t["boxes"][:, [0, 2]].max() <= w + 1e-3 and t["boxes"][:, [1, 3]].max() <= h + 1e-3
    assert checked_colors >= 5


class CornerCrop(v2.Transform):
    "Recorte fijo de la esquina superior izquierda de 30×30 (imagen, cajas y máscaras)."
    def transform(self, inpt, params):
        return v2.functional.crop(inpt, 0, 0, 30, 30)


@pytest.mark.parametrize("library", ["albumentations", "torchvision"])
def test_dropped_instances_take_their_masks_and_labels(seg, library):
    "Un recorte a una esquina saca figuras: cajas, etiquetas y máscaras se quitan juntas."
    if library == "albumentations":
        pipe = A.Compose([A.Crop(0, 0, 30, 30)], bbox_params=BBOX)
    else:
        pipe = v2.Compose([CornerCrop(), v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=2)])
    ds = AugmentedDataset(seg, pipe)
    dropped = 0
    for i in range(len(seg)):
        _, t0 = seg[i]
        img, t = ds[i]
        dropped += len(t0["boxes"]) - len(t["boxes"])
        assert len(t["masks"]) == len(t["labels"]) == len(t["boxes"])
        for m, l in zip(t["masks"].bool(), t["labels"]):
            assert (t["semantic"][m] == l).all()        # cada máscara sigue siendo de la instancia de su etiqueta
        assert check_alignment(img, t)["cajas"]
    assert dropped > 0


def test_detection_task_without_masks():
    det = Figuras(6, 64, task="detection", seed=1)
    ds = AugmentedDataset(det, A.Compose([A.HorizontalFlip(p=1)], bbox_params=BBOX))
    img0, t0 = det[0]
    img, t = ds[0]
    np.testing.assert_array_equal(img, img0[:, ::-1])
    expected = t0["boxes"].clone()
    expected[:, [0, 2]] = 64 - t0["boxes"][:, [2, 0]]
    assert_close(t["boxes"], expected)
    assert torch.equal(t["labels"], t0["labels"]) and set(t) == {"boxes", "labels"}


def test_semantic_mask_is_rotated_like_instance_masks(seg):
    "OpenCV no rota igual int32 y uint8: AugmentedDataset pasa la máscara semántica como uint8."
    ds = AugmentedDataset(seg, A.Compose([A.Affine(rotate=(-40, 40), p=1)], bbox_params=BBOX), seed=0)
    for i in range(len(seg)):
        _, t = ds[i]
        assert check_alignment(None, t)["semántica"]


def test_classification_path_and_seeding():
    ds = Figuras(4, 32, seed=0)
    pipe = A.Compose([A.RandomResizedCrop(size=(24, 24), scale=(0.3, 1.0)), A.ToFloat(max_value=255), ToTensorV2()])
    a, b = AugmentedDataset(ds, pipe, seed=3), None
    xa = [a[i][0] for i in range(4)]
    b = AugmentedDataset(ds, pipe, seed=3)
    xb = [b[i][0] for i in range(4)]
    assert all(torch.equal(u, v) for u, v in zip(xa, xb))            # misma semilla, mismas aumentaciones
    x, y = a[1]
    assert x.shape == (3, 24, 24) and x.dtype == torch.float32 and y == ds[1][1]
    seed_everything(1); c1 = AugmentedDataset(ds, pipe)[0][0]
    seed_everything(1); c2 = AugmentedDataset(ds, pipe)[0][0]
    assert torch.equal(c1, c2)                                         # seed_everything alcanza a Albumentations
    xt, yt = AugmentedDataset(ds, v2.Compose([v2.RandomHorizontalFlip(p=1), v2.ToDtype(torch.float32, scale=True)]))[2]
    assert_close(xt, image_to_tensor(ds[2][0]).flip(-1)) and yt == ds[2][1]
    assert type(xt) is torch.Tensor                                    # sin la subclase tv_tensors.Image


def test_each_dataloader_worker_gets_its_own_randomness():
    img = Figuras(1, 48, seed=0)[0][0]
    same = ListDataset([(img, 0)] * 4)
    pipe = A.Compose([A.RandomResizedCrop(size=(32, 32), scale=(0.1, 1.0)), ToTensorV2()])
    dl = DataLoader(AugmentedDataset(same, pipe, seed=0), batch_size=1, num_workers=2)
    xs = [x for x, _ in dl]          # ítem 0 del proceso 0, ítem 1 del proceso 1, …
    assert not torch.equal(xs[0], xs[1]), "los dos procesos repitieron el mismo azar"


def test_box_mask_excess_by_hand():
    masks = torch.zeros(2, 10, 10, dtype=torch.uint8)
    masks[0, 2:5, 3:7] = 1                 # filas 2..4, columnas 3..6 → caja justa [3, 2, 7, 5]
    boxes = torch.tensor([[3.0, 2.0, 7.0, 5.0], [0.0, 0.0, 1.0, 1.0]])
    assert box_mask_excess(boxes, masks).tolist() == [0.0, 0.0]     # la segunda máscara está vacía
    assert box_mask_excess(torch.tensor([[3.0, 2.0, 5.5, 5.0], [0, 0, 1, 1.0]]), masks).tolist() == [1.5, 0.0]


# ------------------------------------------------------------------ mixup y cutmix
def constant_batch(n=6, h=12, w=16):
    "Imagen i: todos sus píxeles valen i (así se ve de dónde salió cada píxel)."
    return torch.arange(float(n))[:, None, None, None].expand(n, 3, h, w).clone(), torch.arange(n) % 4


def test_mixup_formula_and_label_sum():
    x, y = constant_batch()
    perm = torch.tensor([5, 0, 1, 2, 3, 4])
    xm, ym = mixup(x, y, num_classes=4, lam=0.3, perm=perm)
    assert_close(xm, 0.3 * x + 0.7 * x[perm])
    assert_close(ym, 0.3 * torch.eye(4)[y] + 0.7 * torch.eye(4)[y[perm]])
    assert_close(ym.sum(1), torch.ones(6))
    xm2, ym2 = mixup(xm, ym, alpha=0.4)      # se puede volver a mezclar etiquetas ya suaves
    assert_close(ym2.sum(1), torch.ones(6))


def test_cutmix_weight_is_the_clipped_pasted_area():
    x, y = constant_batch()
    torch.manual_seed(0)
    near_border = 0
    for _ in range(300):
        perm = torch.randperm(6)
        lam = float(torch.rand(()))
        box = cutmix_box(12, 16, lam)
        x1, y1, x2, y2 = box
        unclipped = 2 * int(0.5 * (1 - lam) ** 0.5 * 16) * 2 * int(0.5 * (1 - lam) ** 0.5 * 12)
        near_border += (x2 - x1) * (y2 - y1) < unclipped
        xk, yk = cutmix(x, y, num_classes=4, box=box, perm=perm)
        area = (x2 - x1) * (y2 - y1) / (12 * 16)
        from_pair = (xk == x[perm]) & (x[perm] != x)
        for i in range(6):
            if perm[i] != i:
                assert from_pair[i].float().mean().item() == pytest.approx(area)
        assert_close(yk, (1 - area) * torch.eye(4)[y] + area * torch.eye(4)[y[perm]])
        assert_close(yk.sum(1), torch.ones(6))
    assert near_border > 30, "casi ninguna caja se recortó: la prueba no cubre el caso del borde"


def pasted_fraction_and_weight(x_in, y_in, x_out, y_out, pair):
    "Fracción de píxeles de la imagen 0 que vienen de su pareja y peso de la clase de la pareja en su etiqueta."
    frac = (x_out[0] == x_in[pair]).float().mean().item()
    return frac, y_out[0, y_in[pair]].item()


def test_cutmix_properties_match_torchvision():
    "Las mismas propiedades en nuestras salidas y en las de v2.CutMix: etiquetas que suman 1 y peso = área pegada."
    x = torch.arange(4.0)[:, None, None, None].expand(4, 1, 20, 30).clone()
    y = torch.arange(4)
    tv = v2.CutMix(alpha=1.0, num_classes=4)
    torch.manual_seed(0)
    for _ in range(100):
        xt, yt = tv(x, y)                                   # torchvision: la pareja de 0 es 3 (x.roll(1, 0))
        frac, weight = pasted_fraction_and_weight(x, y, xt, yt, 3)
        assert weight == pytest.approx(frac, abs=1e-6)
        assert_close(yt.sum(1), torch.ones(4))
        perm = torch.tensor([3, 0, 1, 2])
        xm, ym = cutmix(x, y, alpha=1.0, num_classes=4, perm=perm)
        frac, weight = pasted_fraction_and_weight(x, y, xm, ym, 3)
        assert weight == pytest.approx(frac, abs=1e-6)
        assert_close(ym.sum(1), torch.ones(4))


def test_exactly_torchvision_given_the_same_parameters():
    xb, yb = torch.rand(8, 3, 24, 20), torch.randint(0, 6, (8,))
    roll = (torch.arange(8) - 1) % 8
    for seed in range(10):
        cm = v2.CutMix(alpha=0.7, num_classes=6)
        torch.manual_seed(seed); params = cm.make_params([xb])
        torch.manual_seed(seed); x_tv, y_tv = cm(xb, yb)
        x_me, y_me = cutmix(xb, yb, num_classes=6, box=params["box"], perm=roll)
        assert_close(x_me, x_tv); assert_close(y_me, y_tv)
        if yb[0] != yb[roll[0]]:
            assert y_me[0, yb[0]].item() == pytest.approx(params["lam_adjusted"])   # el peso propio es 1 − área pegada
        mu = v2.MixUp(alpha=0.7, num_classes=6)
        torch.manual_seed(seed); lam = float(mu._dist.sample(()))
        torch.manual_seed(seed); x_tv, y_tv = mu(xb, yb)
        x_me, y_me = mixup(xb, yb, num_classes=6, lam=lam, perm=roll)
        assert_close(x_me, x_tv); assert_close(y_me, y_tv)


def test_lambda_distribution_matches_torchvision():
    "Con α = 1, λ ~ Beta(1, 1) = uniforme: media 1/2 en las dos implementaciones."
    x, y = torch.rand(2, 1, 4, 4), torch.tensor([0, 1])
    torch.manual_seed(0)
    ours = [mixup(x, y, alpha=1.0, num_classes=2, perm=torch.tensor([1, 0]))[1][0, 0].item() for _ in range(2000)]
    theirs = [v2.MixUp(alpha=1.0, num_classes=2)(x, y)[1][0, 0].item() for _ in range(2000)]
    for lams in (ours, theirs):
        assert abs(np.mean(lams) - 0.5) < 0.03 and abs(np.var(lams) - 1 / 12) < 0.01


def test_mix_errors():
    x, y = constant_batch(4)
    with pytest.raises(ValueError, match="num_classes"):
        mixup(x, y)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        cutmix(x[0], y, num_classes=4)
    with pytest.raises(TypeError, match="float"):
        mixup(x.to(torch.uint8), y, num_classes=4)
    with pytest.raises(ValueError, match="suman 1"):
        as_soft_labels(torch.full((4, 4), 0.3))
    with pytest.raises(ValueError, match="entre 0 y 1"):
        mixup(x, y, num_classes=4, lam=1.5)
    with pytest.raises(ValueError, match="rectángulo"):
        cutmix(x, y, num_classes=4, box=(0, 0, 40, 5))


def test_mix_collate():
    ds = Figuras(8, 32, seed=0, transform=image_to_tensor)
    torch.manual_seed(0)
    both = MixCollate(5, mixup_alpha=0.4, cutmix_alpha=1.0)
    for xb, yb in DataLoader(ds, batch_size=4, collate_fn=both):
        assert xb.shape == (4, 3, 32, 32) and yb.shape == (4, 5)
        assert_close(yb.sum(1), torch.ones(4))
    loss = nn.CrossEntropyLoss()(torch.zeros(4, 5, requires_grad=True), yb)   # la pérdida acepta etiquetas suaves
    assert loss.item() == pytest.approx(np.log(5), rel=1e-5)


# ------------------------------------------------------------------ TTA
def test_tta_averages_probabilities():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout(0.5), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    x = torch.rand(5, 3, 8, 8)
    model.train()
    tfms = [tta_identity, tta_hflip, lambda b: b.flip(-2)]
    p = tta_predict(model, x, tfms)
    assert model.training                                             # lo deja como estaba
    model.eval()
    with torch.no_grad():
        expected = sum(model(t(x)).softmax(-1) for t in tfms) / 3
    assert_close(p, expected)                                         # en eval: sin dropout, determinista
    assert_close(p.sum(1), torch.ones(5))
    assert_close(tta_predict(model, x, [tta_identity]), model(x).softmax(-1).detach())
    with pytest.raises(ValueError, match="vacío"):
        tta_predict(model, x, [])
    with pytest.raises(ValueError, match="tamaño del lote"):
        tta_predict(model, x, [lambda b: torch.cat([b, b])])


# ------------------------------------------------------------------ offline, TensorBoard, grilla, benchmark
def test_save_augmented_copies_round_trip(tmp_path):
    ds = Figuras(6, 32, seed=0)
    n = save_augmented_copies(ds, A.Compose([A.HorizontalFlip(), A.Affine(rotate=(-90, 90), p=1)], seed=0), tmp_path, copies=2)
    folder = ImageFolder(tmp_path)
    assert n == 12 == len(folder)
    assert sorted(folder.classes[l] for _, l in folder.samples) == sorted(FIGURAS_CLASSES[ds[i][1]] for i in range(6) for _ in range(2))
    img, _ = folder[0]
    assert img.size == (32, 32)
    with pytest.raises(TypeError, match="uint8"):
        save_augmented_copies(ds, A.Compose([A.Normalize()]), tmp_path / "x", copies=1)
    with pytest.raises(ValueError, match="al menos una copia"):
        save_augmented_copies(ds, A.Compose([A.HorizontalFlip()]), tmp_path / "y", copies=0)


def test_log_augmented_batch(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter
    with SummaryWriter(tmp_path) as w:
        log_augmented_batch(w, torch.rand(3, 3, 10, 12), step=7, tag="lote")
    ea = EventAccumulator(str(tmp_path)); ea.Reload()
    ev = ea.Images("lote")
    assert len(ev) == 1 and ev[0].step == 7 and ev[0].width * ev[0].height >= 3 * 10 * 12


def test_show_augmentations_is_reproducible():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    img = Figuras(1, 32, seed=0)[0][0]
    for pipe in (A.Compose([A.Affine(rotate=(-90, 90), p=1)]), v2.RandomRotation(90), K.RandomRotation(90.0, p=1.0)):
        grids = [[ax.images[0].get_array().copy() for ax in show_augmentations(img, pipe, n=3, seed=1).axes] for _ in range(2)]
        assert len(grids[0]) == 4
        assert all(np.array_equal(a, b) for a, b in zip(*grids))
        assert isinstance(augment_image(img, pipe), (np.ndarray, torch.Tensor))
    plt.close("all")


def test_benchmark_and_overhead_shapes():
    photo = Figuras(1, 64, seed=0)[0][0]
    rows = benchmark_pipelines(photo, size=32, n_images=2, repeats=2, kornia_batch=2, gpu=False)
    assert [r["variante"] for r in rows][:2] == ["Albumentations", "torchvision v2"]
    assert rows[0]["relativo"] == 1.0 and all(r["imágenes_por_s"] > 0 and len(r["mediciones"]) == 2 for r in rows)
    over = wrapper_overhead([(photo, 0)] * 3, make_pipeline("albumentations", 32), repeats=2)
    assert len(over["cocientes"]) == 2 and over["directo_s"] > 0
    assert over["sobrecosto"] == pytest.approx(over["envuelto_s"] / over["directo_s"] - 1)
    with pytest.raises(TypeError, match="Albumentations"):
        wrapper_overhead([(photo, 0)], make_pipeline("torchvision", 32))


def test_names_are_specific():
    "Los nombres exportados no pisan nombres genéricos: AUGMENT_LIBRARIES, tta_identity, tta_hflip; num_threads vive en vpc2.core."
    import vpc2.augment as aug
    from vpc2.augment import AUGMENT_LIBRARIES
    assert AUGMENT_LIBRARIES == ("albumentations", "torchvision", "kornia")
    for old in ("LIBRARIES", "identity", "hflip", "num_threads"):
        assert old not in aug.__all__, old
    x = torch.rand(2, 3, 4, 5)
    assert torch.equal(tta_identity(x), x) and torch.equal(tta_hflip(x), x.flip(-1))
    with pytest.raises(ValueError, match="Biblioteca desconocida"):
        make_pipeline("opencv")


# Ejercicios del cuaderno 07: la comprobación acepta la solución y rechaza respuestas equivocadas.
import torch.nn.functional as F  # noqa: E402

from vpc2.ejercicios import run_exercise  # noqa: E402


def _flip_boxes(boxes, w, minus_one=0, swap=True):
    x1, y1, x2, y2 = boxes.unbind(-1)
    if swap: return torch.stack([w - minus_one - x2, y1, w - minus_one - x1, y2], -1)
    return torch.stack([w - x1, y1, w - x2, y2], -1)


def test_exercise_7_1_hflip_with_boxes():
    assert run_exercise("7.1", lambda im, b: (im.flip(-1), _flip_boxes(b, im.shape[-1]))).passed
    for wrong in (lambda im, b: (im.flip(-1), _flip_boxes(b, im.shape[-1], minus_one=1)),     # W − 1 − x, como un píxel
                  lambda im, b: (im.flip(-1), _flip_boxes(b, im.shape[-1], swap=False)),     # x1 > x2
                  lambda im, b: (im.flip(-2), _flip_boxes(b, im.shape[-1])),                 # espejo vertical de la imagen
                  lambda im, b: (im.flip(-1), b)):                                           # cajas sin mover
        r = run_exercise("7.1", wrong)
        assert not r.passed and "caso" in r.message


def _mixup_batch(x, y, lam, c, shift=1):
    y1 = F.one_hot(y, c).float()
    return lam * x + (1 - lam) * x.roll(shift, 0), lam * y1 + (1 - lam) * y1.roll(shift, 0)


def test_exercise_7_2_mixup_batch():
    assert run_exercise("7.2", _mixup_batch).passed
    for wrong in (lambda x, y, lam, c: _mixup_batch(x, y, 1 - lam, c),                       # λ al revés
                  lambda x, y, lam, c: (_mixup_batch(x, y, lam, c)[0], F.one_hot(y, c).float()),   # etiquetas sin mezclar
                  lambda x, y, lam, c: _mixup_batch(x, y, lam, c, shift=-1)):                # pareja equivocada
        r = run_exercise("7.2", wrong)
        assert not r.passed and "caso" in r.message


def test_exercise_7_3_tta_average():
    def right(m, x):
        with torch.no_grad(): return (m(x).softmax(-1) + m(x.flip(-1)).softmax(-1)) / 2
    assert run_exercise("7.3", right).passed
    for wrong in (lambda m, x: ((m(x) + m(x.flip(-1))) / 2).softmax(-1),                     # promedia logits
                  lambda m, x: (m(x).softmax(-1) + m(x.flip(-2)).softmax(-1)) / 2,           # espejo vertical
                  lambda m, x: m(x).softmax(-1)):                                            # sin TTA
        r = run_exercise("7.3", wrong)
        assert not r.passed and "caso" in r.message
