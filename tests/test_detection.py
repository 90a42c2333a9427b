"Pruebas de vpc2.detection contra torchvision.ops, torchmetrics/pycocotools y casos borde."
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import ops as tvops
from torchvision.models.detection._utils import BoxCoder, Matcher

from vpc2.data import DatasetNotFoundError, Figuras, collate_detection, image_to_tensor
from vpc2.detection import (COCO_IOU_THRESHOLDS, RECALL_POINTS, PennFudan, TinySSD, TinyYOLO, anchor_grid,
                            average_precision, batched_nms, box_convert, box_iou, decode_boxes, encode_boxes,
                            evaluate_detector, found_fraction, greedy_match, load_penn_fudan, match_anchors,
                            mean_average_precision, nms, roi_align, sigmoid_focal_loss, sliding_windows, tiny_faster_rcnn,
                            train_detector, yolo_activate, yolo_decode, yolo_loss, yolo_targets)


def random_boxes(n, size=100.0, g=None):
    xy = torch.rand(n, 2, generator=g)*size*0.8
    wh = torch.rand(n, 2, generator=g)*size*0.3 + 1
    return torch.cat([xy, xy + wh], 1)


@pytest.fixture
def g():
    return torch.Generator().manual_seed(0)


def test_box_convert_and_iou_match_torchvision(g, one_thread):
    b = random_boxes(40, g=g)
    for fi in ("xyxy", "xywh", "cxcywh"):
        for fo in ("xyxy", "xywh", "cxcywh"):
            src = tvops.box_convert(b, "xyxy", fi)
            torch.testing.assert_close(box_convert(src, fi, fo), tvops.box_convert(src, fi, fo))
    b2 = random_boxes(7, g=g)
    torch.testing.assert_close(box_iou(b, b2), tvops.box_iou(b, b2))
    assert box_iou(b, torch.zeros(0, 4)).shape == (40, 0)


def test_nms_matches_torchvision(g, one_thread):
    for n, thr in [(400, 0.5), (50, 0.3), (1, 0.5)]:
        centers = torch.rand(8, 2, generator=g)*200
        c = centers[torch.randint(0, 8, (n,), generator=g)] + torch.randn(n, 2, generator=g)*4
        boxes = torch.cat([c - 10, c + 10], 1)
        scores, labels = torch.rand(n, generator=g), torch.randint(0, 3, (n,), generator=g)
        assert torch.equal(nms(boxes, scores, thr), tvops.nms(boxes, scores, thr))
        assert torch.equal(batched_nms(boxes, scores, labels, thr), tvops.batched_nms(boxes, scores, labels, thr))
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).numel() == 0
    same = torch.tensor([[0., 0, 10, 10]]*3)
    assert torch.equal(nms(same, torch.ones(3), 0.5), tvops.nms(same, torch.ones(3), 0.5))


def test_bad_boxes_spanish_errors(g):
    b = random_boxes(5, g=g)
    with pytest.raises(ValueError, match="¿Pasaste xywh como xyxy?"):
        box_iou(torch.tensor([[10., 10, 5, 20]]), b)
    with pytest.raises(ValueError, match=r"forma \(N, 4\)"):
        nms(torch.rand(3, 5), torch.rand(3), 0.5)
    with pytest.raises(ValueError, match="un puntaje por caja"):
        nms(b, torch.rand(4), 0.5)
    with pytest.raises(ValueError, match="tipo entero"):
        batched_nms(b, torch.rand(5), torch.zeros(5), 0.5)


def test_roi_align_matches_torchvision(g, one_thread):
    x = torch.randn(2, 4, 10, 13, dtype=torch.float64)
    boxes = [random_boxes(4, size=50, g=g).double(), random_boxes(2, size=50, g=g).double()]
    boxes[0][0] = torch.tensor([-5., -5., 60., 60.], dtype=torch.float64)
    for sr in (-1, 2):
        for aligned in (False, True):
            torch.testing.assert_close(roi_align(x, boxes, (3, 4), 0.25, sr, aligned),
                                       tvops.roi_align(x, boxes, (3, 4), 0.25, sr, aligned))
    with pytest.raises(ValueError, match="pasá uno por imagen"):
        roi_align(x, boxes[:1], 7)


def test_anchors_coder_matcher_focal(g, one_thread):
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList
    ref = AnchorGenerator(((16, 32),), ((0.5, 1.0, 2.0),))(ImageList(torch.zeros(1, 3, 48, 64), [(48, 64)]),
                                                           [torch.zeros(1, 2, 6, 8)])[0]
    assert torch.equal(anchor_grid((6, 8), 8, (16, 32)), ref)
    anchors, boxes = random_boxes(30, g=g), random_boxes(30, g=g)
    coder = BoxCoder((10., 10., 5., 5.))
    torch.testing.assert_close(encode_boxes(boxes, anchors, (10., 10., 5., 5.)), coder.encode_single(boxes, anchors))
    deltas = torch.randn(30, 4, generator=g)
    torch.testing.assert_close(decode_boxes(deltas, anchors, (10., 10., 5., 5.)), coder.decode_single(deltas, anchors))
    iou = box_iou(random_boxes(5, g=g), anchor_grid((8, 8), 8, (16, 32), offset=0.5))
    assert torch.equal(match_anchors(iou.clone(), 0.5, 0.4), Matcher(0.5, 0.4, True)(iou.clone()))
    logits, t = torch.randn(20, 3, generator=g), (torch.rand(20, 3, generator=g) > 0.7).float()
    torch.testing.assert_close(sigmoid_focal_loss(logits, t, reduction="sum"), tvops.sigmoid_focal_loss(logits, t, reduction="sum"))


def _random_set(n, g, size=100.0):
    preds, targets = [], []
    for i in range(n):
        k = int(torch.randint(0, 5, (1,), generator=g))
        tb, tl = random_boxes(k, size=size, g=g), torch.randint(1, 4, (k,), generator=g)
        pb = tb + torch.randn(k, 4, generator=g)*2
        pb = torch.cat([pb[:, :2], torch.maximum(pb[:, 2:], pb[:, :2] + 1)], 1)
        pb = torch.cat([pb, random_boxes(3, size=size, g=g)])
        pl = torch.cat([tl, torch.randint(1, 5, (3,), generator=g)])
        if i % 6 == 1: pb, pl = pb[:0], pl[:0]
        if i % 5 == 3: tb, tl = tb[:0], tl[:0]
        preds.append(dict(boxes=pb, scores=torch.rand(len(pb), generator=g), labels=pl))
        targets.append(dict(boxes=tb, labels=tl))
    return preds, targets


def _torchmetrics_map(preds, targets):
    from torchmetrics.detection import MeanAveragePrecision
    metric = MeanAveragePrecision(backend="pycocotools", class_metrics=True, iou_thresholds=list(COCO_IOU_THRESHOLDS),
                                  rec_thresholds=RECALL_POINTS.tolist())
    metric.warn_on_many_detections = False
    metric.update(preds, targets)
    return metric.compute()


MAP_KEYS = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_1", "mar_10", "mar_100",
            "mar_small", "mar_medium", "mar_large", "map_per_class", "mar_100_per_class")


@pytest.mark.parametrize("size", [100.0, 800.0])
def test_map_matches_torchmetrics_pycocotools(g, one_thread, size):
    for _ in range(2):
        preds, targets = _random_set(15, g, size)
        ref, ours = _torchmetrics_map(preds, targets), mean_average_precision(preds, targets)
        for key in MAP_KEYS:
            torch.testing.assert_close(ours[key], ref[key].float().reshape(ours[key].shape), atol=1e-4, rtol=0, msg=key)
        assert ours["classes"].tolist() == ref["classes"].tolist()
        assert ours["map_per_class"][-1] == -1     # la clase 4 sólo aparece en las predicciones
    if size > 300: assert ours["map_large"] > -1 and ours["map_small"] > -1     # hay objetos de los tres tamaños


def test_map_iou_equal_to_threshold_counts(one_thread):
    "COCO acierta con IoU ≥ t: con `>` en el emparejador, estas detecciones serían FP."
    for gt, det, key in (([0., 0, 10, 10], [0., 0, 10, 5], "map_50"), ([0., 0, 20, 20], [0., 0, 20, 15], "map_75")):
        t = [dict(boxes=torch.tensor([gt]), labels=torch.tensor([1]))]
        p = [dict(boxes=torch.tensor([det]), scores=torch.tensor([0.9]), labels=torch.tensor([1]))]
        assert mean_average_precision(p, t)[key].item() == pytest.approx(1.0)
        assert _torchmetrics_map(p, t)[key].item() == pytest.approx(1.0)
    assert greedy_match(np.array([[0.5]]), 0.5).tolist() == [True]


def _voc_eval_reference(preds, targets, cls, ovthresh=0.5):
    "Transcripción directa de voc_eval (devkit de VOC, regla de asignación y AP de todos los puntos), para una clase."
    dets, npos, gts = [], 0, {}
    for i, (p, t) in enumerate(zip(preds, targets)):
        m = t["labels"] == cls
        diff = t.get("difficult", torch.zeros(len(t["labels"]), dtype=torch.bool))[m]
        gts[i] = dict(bbox=t["boxes"][m].double().numpy(), difficult=diff.numpy(), det=[False]*int(m.sum()))
        npos += int((~diff).sum())
        for b, s in zip(p["boxes"][p["labels"] == cls], p["scores"][p["labels"] == cls]):
            dets.append((float(s), i, b.double().numpy()))
    dets = sorted(dets, key=lambda d: -d[0])
    tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
    for d, (_, i, bb) in enumerate(dets):
        R, ovmax, jmax = gts[i], -np.inf, -1
        if len(R["bbox"]):
            B = R["bbox"]
            iw = np.maximum(np.minimum(B[:, 2], bb[2]) - np.maximum(B[:, 0], bb[0]), 0)
            ih = np.maximum(np.minimum(B[:, 3], bb[3]) - np.maximum(B[:, 1], bb[1]), 0)
            inter = iw*ih
            ov = inter/((bb[2] - bb[0])*(bb[3] - bb[1]) + (B[:, 2] - B[:, 0])*(B[:, 3] - B[:, 1]) - inter)
            ovmax, jmax = np.max(ov), int(np.argmax(ov))
        if ovmax >= ovthresh:
            if not R["difficult"][jmax]:
                if not R["det"][jmax]: tp[d], R["det"][jmax] = 1, True
                else: fp[d] = 1
        else:
            fp[d] = 1
    if npos == 0: return -1.0
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec, prec = tp/npos, tp/np.maximum(tp + fp, np.finfo(np.float64).eps)
    mrec, mpre = np.concatenate(([0.], rec, [1.])), np.concatenate(([0.], prec, [0.]))
    for i in range(len(mpre) - 1, 0, -1): mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i])*mpre[i + 1]))


def test_map_50_voc_follows_devkit(g, one_thread):
    for trial in range(3):
        preds, targets = _random_set(20, g)
        for t in targets: t["difficult"] = torch.rand(len(t["labels"]), generator=g) < 0.2
        aps = [_voc_eval_reference(preds, targets, c) for c in range(1, 5)]
        ref = np.mean([a for a in aps if a > -1])
        assert mean_average_precision(preds, targets)["map_50_voc"].item() == pytest.approx(ref, abs=1e-6)
    # la detección de 0.8 va al objeto de mayor IoU, ya tomado: FP en VOC, TP en COCO
    t = [dict(boxes=torch.tensor([[0., 0, 10, 10], [2, 0, 12, 10]]), labels=torch.tensor([1, 1]))]
    p = [dict(boxes=torch.tensor([[0., 0, 10, 10], [0.5, 0, 10.5, 10]]), scores=torch.tensor([0.9, 0.8]), labels=torch.tensor([1, 1]))]
    r = mean_average_precision(p, t)
    assert r["map_50_voc"].item() == pytest.approx(0.5) and r["map_50"].item() == pytest.approx(1.0)


def test_yolo_targets_decode_round_trip():
    ds = Figuras(60, 64, task="detection", seed=5)
    for i in range(len(ds)):
        t = ds[i][1]
        y = yolo_targets(t["boxes"], t["labels"], 8, 5, 64)
        assert y.shape == (8, 8, 10) and int(y[..., 4].sum()) == len(t["boxes"])
        assert ((y[..., :2] >= 0) & (y[..., :2] < 1)).all()
        d = yolo_decode(y[None], 64, score_threshold=0.5, iou_threshold=0.5)[0]
        key = lambda b: b[:, 0]*1000 + b[:, 1]
        od, ot = torch.argsort(key(d["boxes"])), torch.argsort(key(t["boxes"]))
        torch.testing.assert_close(d["boxes"][od], t["boxes"][ot], atol=1e-4, rtol=0)
        assert torch.equal(d["labels"][od], t["labels"][ot]) and (d["scores"] == 1).all()
    y = yolo_targets(torch.tensor([[12., 40, 28, 48]]), torch.tensor([3]), 4, 5, (64, 64))
    torch.testing.assert_close(y[2, 1], torch.tensor([0.25, 0.75, 0.25, 0.125, 1, 0, 0, 1, 0, 0]))
    with pytest.raises(ValueError, match="sumales 1"):
        yolo_targets(torch.tensor([[0., 0, 5, 5]]), torch.tensor([0]), 4, 5, 64)
    with pytest.raises(ValueError, match=r"\(N, S, S, 5 \+ C\)"):
        yolo_decode(y, 64)


def test_tiny_yolo_loss_and_interface(one_thread):
    m = TinyYOLO(5, 8)
    raw = m.raw(torch.rand(2, 3, 64, 64))
    assert raw.shape == (2, 8, 8, 10)
    t = torch.stack([yolo_targets(torch.tensor([[10., 10, 40, 40]]), torch.tensor([2]), 8, 5, 64), torch.zeros(8, 8, 10)])
    terms = yolo_loss(raw, t, return_terms=True)
    assert set(terms) == {"loss_coord", "loss_obj", "loss_noobj", "loss_class"}
    assert yolo_loss(raw, t).item() == pytest.approx(sum(terms.values()).item(), rel=1e-5)
    a = yolo_activate(raw)
    assert ((a[..., :5] >= 0) & (a[..., :5] <= 1)).all() and torch.allclose(a[..., 5:].sum(-1), torch.ones(2, 8, 8))
    with pytest.raises(ValueError, match="misma forma"):
        yolo_loss(raw, t[:1])


def test_found_fraction():
    t = [dict(boxes=torch.tensor([[0., 0, 10, 10], [20, 20, 40, 40]]), labels=torch.tensor([1, 2]))]
    p = [dict(boxes=torch.tensor([[0., 0, 10, 5], [20, 20, 40, 40]]), scores=torch.tensor([0.9, 0.9]), labels=torch.tensor([1, 1]))]
    assert found_fraction(p, t) == 0.5
    assert found_fraction(p, t, iou_threshold=0.6) == 0.0


def test_map_worked_example_and_errors():
    assert average_precision([0.5, 0.5, 1.0], [1.0, 0.5, 2/3], "voc") == pytest.approx(0.5 + 0.5*2/3)
    t = [dict(boxes=torch.tensor([[0., 0, 10, 10]]), labels=torch.tensor([1]))]
    p = [dict(boxes=torch.tensor([[0., 0, 10, 10]]), scores=torch.tensor([0.9]), labels=torch.tensor([1]))]
    assert mean_average_precision(p, t)["map"].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="un diccionario por imagen"):
        mean_average_precision(p, t*2)
    with pytest.raises(ValueError, match="tipo entero"):
        mean_average_precision([dict(p[0], labels=torch.tensor([1.0]))], t)
    with pytest.raises(ValueError, match="¿Pasaste xywh como xyxy?"):
        mean_average_precision(p, [dict(boxes=torch.tensor([[5., 5, 2, 2]]), labels=torch.tensor([1]))])


def test_sliding_windows_count():
    assert len(sliding_windows(10, 12, 4, 2)) == 4*5


def test_detectors_train_step_and_predict(one_thread):
    ds = Figuras(8, 64, task="detection", transform=image_to_tensor)
    dl = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate_detection)
    for model in (TinySSD(6), TinySSD(6, fine_anchor_sizes=(8, 12)), tiny_faster_rcnn(6, 64), TinyYOLO(5, 8)):
        hist = train_detector(model, dl, epochs=1, lr=1e-3)
        assert len(hist) == 2 and all(np.isfinite(hist))
        res = evaluate_detector(model, dl)
        assert {"map", "map_50", "images_per_s", "found", "map_small"} <= set(res)


def _tinyssd_loss_per_image(model, cls, box, anchors, targets):
    "La pérdida de TinySSD escrita imagen por imagen (la forma directa), para comparar con la del lote."
    cls_loss, box_loss, n_pos = cls.sum()*0, box.sum()*0, 0
    for i, t in enumerate(targets):
        matches = match_anchors(box_iou(t["boxes"], anchors), model.fg_iou, model.bg_iou)
        pos, valid = matches >= 0, matches != -2
        cls_t = torch.zeros_like(cls[i]); cls_t[pos, t["labels"][matches[pos]] - 1] = 1.0
        cls_loss = cls_loss + sigmoid_focal_loss(cls[i][valid], cls_t[valid], model.alpha, model.gamma, "sum")
        if pos.any():
            box_loss = box_loss + torch.nn.functional.l1_loss(box[i][pos], encode_boxes(t["boxes"][matches[pos]], anchors[pos]),
                                                              reduction="sum")
        n_pos += int(pos.sum())
    return cls_loss/max(1, n_pos), box_loss/max(1, n_pos)


def test_tinyssd_second_map_and_batched_loss(one_thread):
    ds = Figuras(6, 64, task="detection", n_figures=(2, 4))
    targets = [ds[i][1] for i in range(6)] + [dict(boxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))]
    x = torch.rand(len(targets), 3, 64, 64)
    one = TinySSD(6)
    assert not any(k.startswith(("top_down", "fine_")) for k in one.state_dict())   # sin la opción, el de siempre
    for fine in (None, (8, 12)):
        torch.manual_seed(0)
        model = TinySSD(6, fine_anchor_sizes=fine)
        cls, box, anchors = model.head_outputs(x)
        n = 8*8*9 + (16*16*6 if fine else 0)
        assert cls.shape == (len(targets), n, 5) and box.shape == (len(targets), n, 4) and anchors.shape == (n, 4)
        if fine:
            expected = torch.cat([anchor_grid((8, 8), 8, (16, 32, 48), offset=0.5), anchor_grid((16, 16), 4, fine, offset=0.5)])
            assert torch.equal(anchors, expected)
        losses = model.loss(cls, box, anchors, targets)
        ref_cls, ref_box = _tinyssd_loss_per_image(model, cls, box, anchors, targets)
        torch.testing.assert_close(losses["loss_classifier"], ref_cls)
        torch.testing.assert_close(losses["loss_box_reg"], ref_box)
        grads = torch.autograd.grad(sum(losses.values()), [cls, box], retain_graph=True)
        for got, ref in zip(grads, torch.autograd.grad(ref_cls + ref_box, [cls, box])):
            torch.testing.assert_close(got, ref)
    with pytest.raises(ValueError, match="channels necesita 2"):
        TinySSD(6, channels=(16,), fine_anchor_sizes=(8,))


def test_penn_fudan_offline(tmp_path):
    (tmp_path/"PNGImages").mkdir(); (tmp_path/"PedMasks").mkdir()
    mask = np.zeros((20, 30), np.uint8); mask[2:10, 3:8] = 1
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path/"PNGImages"/"FudanPed00001.png")
    Image.fromarray(mask).save(tmp_path/"PedMasks"/"FudanPed00001_mask.png")
    img, t = PennFudan(tmp_path)[0]
    assert img.shape == (3, 20, 30)
    assert t["boxes"].tolist() == [[3., 2., 8., 10.]]
    with pytest.raises(DatasetNotFoundError, match="Penn-Fudan no está"):
        load_penn_fudan(tmp_path/"nada", download=False)


def test_exercises_reject_wrong_answers():
    from vpc2.ejercicios import run_exercise
    r = run_exercise("9.1", lambda box, s, n: (0, 0, 0.0, 0.0, 0.0, 0.0))
    assert not r.passed and "caso" in r.message
    def swapped(box, s, n):     # fila y columna al revés
        x1, y1, x2, y2 = box
        return (int((x1 + x2)/2/n*s), int((y1 + y2)/2/n*s), 0.5, 0.5, (x2 - x1)/n, (y2 - y1)/n)
    r = run_exercise("9.1", swapped)
    assert not r.passed and "caso" in r.message
    r = run_exercise("9.2", lambda rc, pr: float(np.mean(pr)))
    assert not r.passed and "caso" in r.message
    r = run_exercise("9.2", lambda rc, pr: average_precision(rc, pr, "coco"))    # 101 puntos, no 11
    assert not r.passed and "caso" in r.message
    r = run_exercise("9.3", lambda f, box, p, s: torch.zeros(f.shape[0], 8, 8))   # forma equivocada
    assert not r.passed and "caso" in r.message
    r = run_exercise("9.3", lambda f, box, p, s: roi_align(f[None], [torch.tensor([box])], p, s)[0])   # RoIAlign, no RoI pooling
    assert not r.passed and "caso" in r.message
    def python_round(f, box, p, s):   # round de Python: 2,5 → 2, torchvision sube a 3
        from torchvision.ops import roi_pool
        return roi_pool(f[None], [torch.tensor([[round(v*s)/s for v in box]])], p, s)[0]
    r = run_exercise("9.3", python_round)
    assert not r.passed and "coordenadas que caen en ,5" in r.message
