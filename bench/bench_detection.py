"""Banco de vpc2.detection: NMS a mano ÷ torchvision.ops.nms y mAP a mano ÷ pycocotools (COCOeval) en 500 imágenes.

Razones medidas lado a lado en la misma corrida (la mediana de varias repeticiones), y la carga de la máquina.
Uso: `python bench/bench_detection.py [n_imágenes]`. No es una prueba: no afirma nada sobre los tiempos."""
import contextlib
import io
import os
import sys
import time

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torchvision import ops as tvops

from vpc2.core import is_smoke, smoke_size
from vpc2.detection import COCO_IOU_THRESHOLDS, mean_average_precision, nms


def median_time(fn, reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return float(np.median(times))


def clustered(n: int, g: torch.Generator):
    centers = torch.rand(20, 2, generator=g)*500
    c = centers[torch.randint(0, 20, (n,), generator=g)] + torch.randn(n, 2, generator=g)*6
    wh = 30 + torch.randn(n, 2, generator=g).abs()*8
    return torch.cat([c - wh/2, c + wh/2], 1), torch.rand(n, generator=g)


def detection_set(n_images: int, g: torch.Generator, n_classes: int = 5):
    preds, targets = [], []
    for _ in range(n_images):
        k = int(torch.randint(1, 8, (1,), generator=g))
        xy = torch.rand(k, 2, generator=g)*400
        tb = torch.cat([xy, xy + 20 + torch.rand(k, 2, generator=g)*80], 1)
        tl = torch.randint(1, n_classes + 1, (k,), generator=g)
        pb = torch.cat([tb + torch.randn(k, 4, generator=g)*4, *[tb[:1] + torch.randn(1, 4, generator=g)*20 for _ in range(10)]])
        pb = torch.cat([pb[:, :2], torch.maximum(pb[:, 2:], pb[:, :2] + 1)], 1)
        pl = torch.cat([tl, torch.randint(1, n_classes + 1, (10,), generator=g)])
        preds.append(dict(boxes=pb, scores=torch.rand(len(pb), generator=g), labels=pl))
        targets.append(dict(boxes=tb, labels=tl))
    return preds, targets


def to_coco(preds, targets):
    gt = dict(images=[], annotations=[], categories=[dict(id=c) for c in range(1, 6)])
    dts = []
    for i, (p, t) in enumerate(zip(preds, targets)):
        gt["images"].append(dict(id=i))
        for b, l in zip(tvops.box_convert(t["boxes"], "xyxy", "xywh").tolist(), t["labels"].tolist()):
            gt["annotations"].append(dict(id=len(gt["annotations"]) + 1, image_id=i, bbox=b, category_id=l,
                                          area=b[2]*b[3], iscrowd=0))
        for b, l, s in zip(tvops.box_convert(p["boxes"], "xyxy", "xywh").tolist(), p["labels"].tolist(), p["scores"].tolist()):
            dts.append(dict(image_id=i, bbox=b, category_id=l, score=s))
    return gt, dts


def pycocotools_map(gt, dts) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(); coco.dataset = gt; coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dts), "bbox")
        ev.evaluate(); ev.accumulate(); ev.summarize()
    return float(ev.stats[0])


def main(n_images: int = 500) -> None:
    torch.set_num_threads(1)
    n_images = smoke_size(n_images)          # en una corrida de humo, pocas imágenes y pocas cajas
    g = torch.Generator().manual_seed(0)
    print(f"carga de la máquina (1, 5, 15 min): {os.getloadavg()}")
    for n in ((300,) if is_smoke() else (300, 1000, 3000)):
        boxes, scores = clustered(n, g)
        assert torch.equal(nms(boxes, scores, 0.5), tvops.nms(boxes, scores, 0.5))
        t_hand = median_time(lambda: nms(boxes, scores, 0.5))
        t_tv = median_time(lambda: tvops.nms(boxes, scores, 0.5))
        print(f"NMS {n:5d} cajas: a mano {t_hand*1000:7.2f} ms, torchvision {t_tv*1000:7.2f} ms → a mano ÷ torchvision = {t_hand/t_tv:5.1f}")
    preds, targets = detection_set(n_images, g)
    gt, dts = to_coco(preds, targets)
    ours = mean_average_precision(preds, targets)["map"].item()
    ref = pycocotools_map(gt, dts)
    assert abs(ours - ref) < 1e-4, (ours, ref)
    t_hand = median_time(lambda: mean_average_precision(preds, targets), reps=3)
    t_coco = median_time(lambda: pycocotools_map(gt, dts), reps=3)
    print(f"mAP, {n_images} imágenes ({sum(len(p['boxes']) for p in preds)} detecciones, {len(COCO_IOU_THRESHOLDS)} umbrales): "
          f"a mano {t_hand*1000:.0f} ms, pycocotools {t_coco*1000:.0f} ms → a mano ÷ pycocotools = {t_hand/t_coco:.2f} "
          f"(mAP {ours:.4f} = {ref:.4f})")
    print(f"carga de la máquina al terminar: {os.getloadavg()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
