"""Pruebas de vpc2.data sin red.

Los cargadores reales (Fashion-MNIST, CIFAR-10, hymenoptera, Oxford-IIIT Pets) se prueban sobre archivos
chicos escritos en su formato de verdad (IDX, lotes pickle, árboles de carpetas), no sobre imitaciones del
cargador: las clases de torchvision los leen tal cual."""
import pickle
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

import vpc2.data as data
from vpc2.core import set_mode
from vpc2.data import (FIGURAS_CLASSES, CocoDataset, DataLoaders, DatasetNotFoundError, Digits, Figuras, REAL_DATASETS,
                       SAMPLE_IMAGES, check_boxes, cifar10, collate_detection, fashion_mnist, figuras_dls, hymenoptera,
                       image_to_tensor, load_dataset, load_image_folder, oxford_pets, sample_image, write_coco,
                       write_imagefolder)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    "Sin red garantizada (aunque la máquina tenga) y modo del entorno restaurado al terminar."
    monkeypatch.setenv("VPC2_OFFLINE", "1")
    yield
    set_mode(None)


# ---------------------------------------------------------------- archivos en formato de verdad

def write_idx(path: Path, arr: np.ndarray) -> None:
    "Archivo IDX (formato de MNIST): número mágico 0x00 0x00 0x08 ndim, dimensiones big-endian, bytes."
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    path.write_bytes(header + arr.tobytes())


@pytest.fixture
def fmnist_root(tmp_path):
    rng = np.random.default_rng(0)
    raw = tmp_path/"FashionMNIST"/"raw"
    raw.mkdir(parents=True)
    arrays = {}
    for split, n in (("train", 7), ("t10k", 4)):
        images, labels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(raw/f"{split}-images-idx3-ubyte", images)
        write_idx(raw/f"{split}-labels-idx1-ubyte", labels)
        arrays[split] = images, labels
    return tmp_path, arrays


def test_fashion_mnist_reads_idx_files(fmnist_root):
    root, arrays = fmnist_root
    for train, split in ((True, "train"), (False, "t10k")):
        ds = fashion_mnist(train=train, root=root)
        images, labels = arrays[split]
        assert len(ds) == len(labels)
        for i in range(len(ds)):
            img, label = ds[i]
            assert img.mode == "L" and np.array_equal(np.asarray(img), images[i]) and label == labels[i]
    assert ds.classes[0] == "T-shirt/top"
    x, _ = load_dataset("fashion_mnist", root=root, transform=image_to_tensor)[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32


@pytest.fixture
def cifar_root(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path/"cifar-10-batches-py"
    folder.mkdir()
    batches = {}
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        n = 3
        entry = {"batch_label": name, "labels": rng.integers(0, 10, n).tolist(),
                 "data": rng.integers(0, 256, (n, 3*32*32), dtype=np.uint8), "filenames": [f"{name}_{i}.png" for i in range(n)]}
        (folder/name).write_bytes(pickle.dumps(entry, protocol=2))
        batches[name] = entry
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder/"batches.meta").write_bytes(pickle.dumps({"label_names": names, "num_cases_per_batch": 3, "num_vis": 3072}, protocol=2))
    return tmp_path, batches


def test_cifar10_reads_pickle_batches(cifar_root):
    root, batches = cifar_root
    ds = cifar10(train=True, root=root, check_md5=False)
    assert len(ds) == 15 and ds.classes[3] == "cat"
    first = batches["data_batch_1"]
    img, label = ds[0]
    # cada fila del lote es R(1024) G(1024) B(1024): se reordena a (H, W, C)
    assert np.array_equal(np.asarray(img), first["data"][0].reshape(3, 32, 32).transpose(1, 2, 0))
    assert label == first["labels"][0]
    test = load_dataset("cifar10", train=False, root=root, check_md5=False)
    assert len(test) == 3 and test[2][1] == batches["test_batch"]["labels"][2]


def test_cifar10_md5_rejects_files_that_are_not_the_real_ones(cifar_root):
    root, _ = cifar_root
    with pytest.raises(DatasetNotFoundError, match="MD5"):
        cifar10(root=root)                    # por defecto se verifica: estos archivos chicos no son los oficiales


def _write_jpg(path: Path, rng, size=(40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def test_hymenoptera_reads_folder_tree(tmp_path):
    rng = np.random.default_rng(2)
    base = tmp_path/"hymenoptera_data"
    for split, n in (("train", 3), ("val", 2)):
        for cls in ("ants", "bees"):
            for i in range(n): _write_jpg(base/split/cls/f"{cls}_{i}.jpg", rng)
    train, valid = hymenoptera(root=tmp_path), hymenoptera(train=False, root=tmp_path)
    assert (len(train), len(valid)) == (6, 4) and train.classes == ["ants", "bees"]
    img, label = train[4]
    assert img.size == (40, 30) and label == 1
    (base/"train"/"bees"/"rota.jpg").write_bytes(b"\xff\xd8 esto no es un JPEG")
    broken = hymenoptera(root=tmp_path)
    bad_index = [Path(p).name for p, _ in broken.samples].index("rota.jpg")
    with pytest.raises(OSError, match="rota.jpg"):
        broken[bad_index]


def test_oxford_pets_reads_images_and_annotations(tmp_path):
    rng = np.random.default_rng(3)
    base = tmp_path/"oxford-iiit-pet"
    ids = {"trainval": [("Abyssinian_1", 1, 1), ("american_bulldog_2", 2, 2)], "test": [("Abyssinian_5", 1, 1)]}
    (base/"annotations"/"trimaps").mkdir(parents=True)
    for split, rows in ids.items():
        (base/"annotations"/f"{split}.txt").write_text("".join(f"{i} {c} {s} 1\n" for i, c, s in rows))
        for image_id, _, _ in rows:
            _write_jpg(base/"images"/f"{image_id}.jpg", rng)
            Image.fromarray(rng.integers(1, 4, (30, 40), dtype=np.uint8)).save(base/"annotations"/"trimaps"/f"{image_id}.png")
    ds = oxford_pets(root=tmp_path)
    assert len(ds) == 2 and ds.classes == ["Abyssinian", "American Bulldog"]
    assert ds[1][1] == 1
    seg = oxford_pets(train=False, root=tmp_path, target_types=["category", "segmentation"])
    img, (label, trimap) = seg[0]
    assert label == 0 and trimap.size == img.size


# ---------------------------------------------------------------- sin archivos y sin red

@pytest.mark.parametrize("name", sorted(REAL_DATASETS))
def test_missing_dataset_fails_fast_in_spanish(name, tmp_path):
    set_mode("full")                          # en modo completo se intentaría descargar: sin red, falla ya
    t0 = time.perf_counter()
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset(name, root=tmp_path)
    assert time.perf_counter() - t0 < 2
    msg, info = str(err.value), REAL_DATASETS[name]
    for piece in (info.title, str(tmp_path/info.folder), info.url, "no hay conexión", "fallback=True"):
        assert piece in msg, f"falta {piece!r} en: {msg}"


def test_fast_mode_never_downloads(tmp_path):
    set_mode("fast")
    with pytest.raises(DatasetNotFoundError, match="modo rápido"):
        load_dataset("cifar10", root=tmp_path)


def test_fallback_returns_figuras_with_notice(tmp_path, capsys):
    ds = load_dataset("fashion_mnist", root=tmp_path, fallback=True, transform=image_to_tensor)
    assert "Aviso" in capsys.readouterr().out
    assert isinstance(ds, Figuras) and ds.fallback_for == "fashion_mnist" and ds.classes == FIGURAS_CLASSES
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and 0 <= y < 5       # grises y 28×28, como Fashion-MNIST
    with pytest.raises(ValueError, match="Conjunto desconocido"):
        load_dataset("mnist_de_colores", root=tmp_path, fallback=True)


# ---------------------------------------------------------------- Figuras

def test_figuras_same_pixels_with_two_workers():
    ds = Figuras(24, size=32, task="segmentation", seed=4, occlusion=True)
    def batches(workers):
        dl = DataLoader(ds, batch_size=5, num_workers=workers, collate_fn=collate_detection)
        return [(img, t) for imgs, targets in dl for img, t in zip(imgs, targets)]
    serial, parallel = batches(0), batches(2)
    assert len(serial) == len(parallel) == 24
    for (ia, ta), (ib, tb) in zip(serial, parallel):
        assert np.array_equal(ia, ib) and all(torch.equal(ta[k], tb[k]) for k in ta)


@pytest.mark.parametrize("size", [16, 33, 100])
def test_figuras_boxes_inside_image_and_tight(size):
    ds = Figuras(15, size=size, task="segmentation", seed=size, n_figures=(1, 4), occlusion=True)
    for img, t in ds:
        assert img.shape == (size, size, 3) and img.dtype == np.uint8
        check_boxes(t["boxes"], size, size)
        for box, mask in zip(t["boxes"], t["masks"].bool()):
            ys, xs = torch.nonzero(mask, as_tuple=True)
            assert box.tolist() == [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]


def test_figuras_classes_are_balanced_and_dominant_is_largest():
    ds = Figuras(50, size=48, task="segmentation", seed=9)
    labels = [Figuras(50, size=48, seed=9)[i][1] for i in range(50)]
    assert np.bincount(labels).tolist() == [10]*5
    for i in range(50):
        areas = ds[i][1]["masks"].sum((1, 2))
        assert ds[i][1]["labels"][0] - 1 == labels[i]
        assert (areas[1:] <= areas[0]).all()


def test_figuras_torchvision_and_albumentations_transforms():
    from torchvision.transforms import ToTensor
    img, _ = Figuras(3, size=40)[1]
    torch.testing.assert_close(ToTensor()(img), image_to_tensor(img))
    import albumentations as A
    ds = Figuras(3, size=40, task="detection", seed=1, n_figures=3)
    img, t = ds[0]
    flip = A.Compose([A.HorizontalFlip(p=1)], bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]))
    out = flip(image=img, bboxes=t["boxes"].numpy(), labels=t["labels"].numpy())
    assert np.array_equal(out["image"], img[:, ::-1])
    expected = t["boxes"].numpy()[:, [2, 1, 0, 3]]*[-1, 1, -1, 1] + [40, 0, 40, 0]
    np.testing.assert_allclose(np.asarray(out["bboxes"]), expected, atol=1e-4)


def test_figuras_bad_input():
    with pytest.raises(ValueError, match="Tarea desconocida"): Figuras(task="detección")
    with pytest.raises(ValueError, match="n_figures"): Figuras(n_figures=(3, 1))
    with pytest.raises(ValueError, match="al menos 16"): Figuras(size=10)
    with pytest.raises(ValueError, match="entero no negativo"): Figuras(seed=-1)
    with pytest.raises(IndexError, match="fuera de rango"): Figuras(3)[3]


def test_figuras_dls_and_dataloaders_follow_the_mode():
    set_mode("fast")
    dls = figuras_dls(n_train=40, n_valid=20, size=24)
    xb, yb = next(iter(dls.train))
    assert xb.shape == (32, 3, 24, 24) and yb.dtype == torch.int64 and dls.train.num_workers == 0
    set_mode("full")
    assert DataLoaders.from_datasets(Figuras(4), Figuras(4)).train.batch_size == 64
    dls = DataLoaders.from_datasets(Figuras(4), Figuras(4), batch_size=2, num_workers=0, drop_last=True)
    assert dls.valid.batch_size == 2 and dls.train.drop_last
    with pytest.raises(ValueError, match="tamaño de lote"):
        DataLoaders.from_datasets(Figuras(4), Figuras(4), batch_size=-1)


@pytest.mark.parametrize("bad", [dict(n_train=0), dict(n_valid=0), dict(batch_size=0), dict(n_train=-3), dict(batch_size=1.5)])
def test_figuras_dls_zero_is_an_error_not_the_default(bad):
    "0 no significa 'el valor por defecto' (eso es None): antes figuras_dls(n_train=0) usaba 512 imágenes sin avisar."
    with pytest.raises(ValueError, match=f"{list(bad)[0]}=.*None"):
        figuras_dls(**bad)


def test_from_datasets_rejects_zero_batch_and_negative_workers():
    with pytest.raises(ValueError, match="batch_size=0"):
        DataLoaders.from_datasets(Figuras(4), Figuras(4), batch_size=0)
    with pytest.raises(ValueError, match="num_workers=-1"):
        DataLoaders.from_datasets(Figuras(4), Figuras(4), num_workers=-1)


def test_image_to_tensor_respects_the_dtype():
    "uint8 / 255, uint16 / 65535, float sin tocar (antes se dividía por 255 siempre), PIL y tensores."
    from PIL import Image
    from torchvision.transforms import ToTensor
    img = Figuras(2, size=24)[1][0]
    x = image_to_tensor(img)
    torch.testing.assert_close(x, ToTensor()(img))
    torch.testing.assert_close(image_to_tensor(img.astype(np.float32)/255), x)
    torch.testing.assert_close(image_to_tensor((img.astype(np.float64)/255)), x)
    torch.testing.assert_close(image_to_tensor(img.astype(np.uint16)*257), x)
    torch.testing.assert_close(image_to_tensor(Image.fromarray(img)), x)
    torch.testing.assert_close(image_to_tensor(Image.fromarray(img).convert("P")), ToTensor()(Image.fromarray(img).convert("P").convert("RGB")))
    torch.testing.assert_close(image_to_tensor(torch.from_numpy(img).permute(2, 0, 1)), x)
    assert image_to_tensor(img[..., 0]).shape == (1, 24, 24)
    ro = img.copy(); ro.flags.writeable = False
    torch.testing.assert_close(image_to_tensor(ro), x)


@pytest.mark.parametrize("bad, msg", [(np.zeros((4, 4), np.int64), "uint8"), (np.zeros((3, 8, 8), np.uint8), "np.transpose"),
                                      (torch.zeros(8, 8, 3), "permute"), ("imagen.png", "No sé convertir"),
                                      (np.zeros((2, 2, 2, 2, 2)), "dimensiones")])
def test_image_to_tensor_errors_in_spanish(bad, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        image_to_tensor(bad)


# ---------------------------------------------------------------- disco

def test_imagefolder_round_trip(tmp_path):
    from torchvision.datasets import ImageFolder
    root = write_imagefolder(tmp_path/"if", n_train=10, n_valid=5, size=24, seed=2)
    train = ImageFolder(root/"train")
    assert len(train) == 10 and sorted(train.classes) == sorted(FIGURAS_CLASSES)
    mem = Figuras(10, size=24, seed=2)
    for path, idx in train.samples:
        i = int(Path(path).stem)
        img, label = mem[i]
        assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), img)
        assert train.classes[idx] == FIGURAS_CLASSES[label]
    valid = load_image_folder(root/"valid", verify=True)
    assert np.array_equal(np.asarray(valid[0][0]), Figuras(15, size=24, seed=2)[10 + int(Path(valid.samples[0][0]).stem)][0])
    with pytest.raises(FileExistsError, match="no está vacía"):
        write_imagefolder(root, n_train=5, n_valid=5)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No existe la carpeta"): load_image_folder(tmp_path/"nada")
    with pytest.raises(FileNotFoundError, match="no tiene subcarpetas"): load_image_folder(tmp_path)
    (tmp_path/"gatos").mkdir(); (tmp_path/".ipynb_checkpoints").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path/"gatos"/"a.png")
    with pytest.raises(FileNotFoundError, match="ipynb_checkpoints"): load_image_folder(tmp_path)
    (tmp_path/".ipynb_checkpoints").rmdir()
    (tmp_path/"gatos"/"b.png").write_bytes(b"\x89PNG cortado")
    with pytest.raises(OSError, match="b.png"): load_image_folder(tmp_path, verify=True)


def test_coco_round_trip_and_json_format(tmp_path):
    import json
    ann = write_coco(tmp_path, n=6, size=48, seed=5, split="valid", n_figures=(2, 3))
    coco = json.loads(ann.read_text())
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3, 4, 5]
    a = coco["annotations"][0]
    assert set(a) >= {"id", "image_id", "category_id", "bbox", "area", "iscrowd", "segmentation"}
    assert sum(a["segmentation"]["counts"]) == 48*48 and a["area"] > 0
    mem = Figuras(6, size=48, task="segmentation", seed=5, n_figures=(2, 3))
    ds = CocoDataset(tmp_path, split="valid", task="segmentation")
    for i in range(6):
        (ia, ta), (ib, tb) = ds[i], mem[i]
        assert np.array_equal(ia, ib) and all(torch.equal(ta[k], tb[k]) for k in tb)


# ---------------------------------------------------------------- imágenes que vienen con los paquetes

@pytest.mark.parametrize("name", SAMPLE_IMAGES)
def test_sample_images_load_offline(name):
    img = sample_image(name, size=32)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) == 32


def test_digits_split_and_values():
    train, valid = Digits(train=True, size=8), Digits(train=False, size=8)
    assert len(train) + len(valid) == 1797 and not set(train.indices) & set(valid.indices)
    img, label = valid[3]
    assert img.dtype == np.uint8 and img.max() <= 255 and 0 <= label <= 9


@pytest.mark.parametrize("label, wrong", [
    ("1.1", lambda img: torch.from_numpy(img).float() / 255),                        # sin pasar a (C, H, W)
    ("1.1", lambda img: torch.from_numpy(img).permute(2, 0, 1).float()),             # sin dividir por 255
    ("1.1", lambda img: torch.from_numpy(img / 255).permute(2, 0, 1)),               # float64 (dividió en NumPy)
    ("1.2", lambda tr, va: float(np.mean(np.asarray(va) == np.argmax(np.bincount(np.asarray(va)))))),   # mayoritaria de validación
    ("1.2", lambda tr, va: 1 / len(set(tr))),                                          # el azar
    ("1.3", lambda m: [int(v) for v in __import__("torchvision").ops.masks_to_boxes(torch.as_tensor(m)[None].bool())[0]]),   # borde adentro
    ("1.3", lambda m: [int(torch.nonzero(m)[:, 0].min()), int(torch.nonzero(m)[:, 1].min()),
                       int(torch.nonzero(m)[:, 0].max()) + 1, int(torch.nonzero(m)[:, 1].max()) + 1]),              # x e y cambiados
])
def test_exercises_reject_wrong_answers(label, wrong):
    import vpc2.data  # noqa: F401  (registra los ejercicios 1.x)
    from vpc2.ejercicios import run_exercise
    r = run_exercise(label, wrong)
    assert not r.passed and "caso" in r.message


def test_exercises_accept_reference_solutions():
    from vpc2.data import _box_reference, _majority_reference, _to_tensor_reference
    from vpc2.ejercicios import run_exercise
    for label, fn in (("1.1", _to_tensor_reference), ("1.2", _majority_reference), ("1.3", _box_reference)):
        assert run_exercise(label, fn).passed, label
