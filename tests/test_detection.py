"Pruebas de vpc2.detection contra torchvision.ops, torchmetrics/pycocotools y casos borde."
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import ops as tvops
from torchvision.models.detection._utils import BoxCoder, Matcher

from vpc2.data import DatasetNotFoundError, Figuras, collate_detection, image_to_tensor
from vpc2.detection import (COCO_IOU_THRESHOLDS, RECALL_POINTS, PennFudan, TinySSD, anchor_grid, average_precision,
                            batched_nms, box_convert, box_iou, decode_boxes, encode_boxes, evaluate_detector,
                            load_penn_fudan, match_anchors, mean_average_precision, nms, roi_align, sigmoid_focal_loss,
                            sliding_windows, tiny_faster_rcnn, train_detector)


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


def _random_set(n, g):
    preds, targets = [], []
    for i in range(n):
        k = int(torch.randint(0, 5, (1,), generator=g))
        tb, tl = random_boxes(k, g=g), torch.randint(1, 4, (k,), generator=g)
        pb = tb + torch.randn(k, 4, generator=g)*2
        pb = torch.cat([pb[:, :2], torch.maximum(pb[:, 2:], pb[:, :2] + 1)], 1)
        pb = torch.cat([pb, random_boxes(3, g=g)])
        pl = torch.cat([tl, torch.randint(1, 5, (3,), generator=g)])
        if i % 6 == 1: pb, pl = pb[:0], pl[:0]
        if i % 5 == 3: tb, tl = tb[:0], tl[:0]
        preds.append(dict(boxes=pb, scores=torch.rand(len(pb), generator=g), labels=pl))
        targets.append(dict(boxes=tb, labels=tl))
    return preds, targets


def test_map_matches_torchmetrics_pycocotools(g, one_thread):
    from torchmetrics.detection import MeanAveragePrecision
    preds, targets = _random_set(12, g)
    metric = MeanAveragePrecision(backend="pycocotools", class_metrics=True, iou_thresholds=list(COCO_IOU_THRESHOLDS),
                                  rec_thresholds=RECALL_POINTS.tolist())
    metric.update(preds, targets)
    ref = metric.compute()
    ours = mean_average_precision(preds, targets)
    for key in ("map", "map_50", "map_75", "mar_1", "mar_10", "mar_100", "map_per_class", "mar_100_per_class"):
        torch.testing.assert_close(ours[key], ref[key].float().reshape(ours[key].shape), atol=1e-4, rtol=0, msg=key)
    assert ours["classes"].tolist() == ref["classes"].tolist()
    assert ours["map_per_class"][-1] == -1     # la clase 4 sólo aparece en las predicciones


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
    for model in (TinySSD(6), tiny_faster_rcnn(6, 64)):
        hist = train_detector(model, dl, epochs=1, lr=1e-3)
        assert len(hist) == 2 and all(np.isfinite(hist))
        res = evaluate_detector(model, dl)
        assert {"map", "map_50", "images_per_s"} <= set(res)


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
