"""vpc2.deploy: ONNX igual a PyTorch, cuantización, la app de Gradio servida en 127.0.0.1 y consultada con
gradio_client (entradas buenas y malas), la auditoría de carpetas y los ejercicios del cuaderno 14."""
import socket

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image
from torchvision.transforms import v2

from vpc2.deploy import (OnnxPredictor, audit_image_folder, duplicate_groups, export_onnx, group_split,
                         image_predictor, make_app, quantize_onnx)
from vpc2.ejercicios import run_exercise
from vpc2.train import simple_cnn

LABELS = ["círculo", "cuadrado", "triángulo"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = simple_cnn(3, channels=(32, 64), global_pool="max").eval()   # con pesos de sobra: int8 pesa menos
    with torch.no_grad():                                  # BatchNorm con estadísticas no triviales
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d): m.running_mean.uniform_(-0.5, 0.5); m.running_var.uniform_(0.5, 2)
    path = export_onnx(model, tmp_path_factory.mktemp("onnx")/"m.onnx", torch.rand(1, 3, 24, 24))
    return model, path


@pytest.mark.parametrize("n", [1, 5])
def test_onnx_equals_pytorch(exported, n):
    model, path = exported
    x = torch.rand(n, 3, 24, 24, generator=torch.Generator().manual_seed(n))
    with torch.no_grad(): expected = model(x)
    torch.testing.assert_close(OnnxPredictor(path)(x), expected, rtol=1e-3, atol=1e-5)


def test_quantized_model_mostly_agrees(exported, tmp_path):
    model, path = exported
    x = torch.rand(64, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    q = quantize_onnx(path, tmp_path/"q.onnx", x[:32])
    assert q.stat().st_size < path.stat().st_size
    with torch.no_grad(): agree = (OnnxPredictor(q)(x).argmax(1) == model(x).argmax(1)).float().mean()
    assert agree >= 0.9
    with pytest.raises(ValueError, match="calibration_images está vacío"): quantize_onnx(path, tmp_path/"q2.onnx", [])


def test_bad_inputs_to_the_predictor(exported, tmp_path):
    _, path = exported
    with pytest.raises(FileNotFoundError, match="Exportalo primero"): OnnxPredictor(tmp_path/"falta.onnx")
    with pytest.raises(ValueError, match="misma transformación"): OnnxPredictor(path)(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"): OnnxPredictor(path)(torch.rand(3, 24, 24))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_app_served_and_queried(exported, tmp_path, monkeypatch):
    pytest.importorskip("gradio")
    gradio_client = pytest.importorskip("gradio_client")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    _, path = exported
    transform = v2.Compose([v2.Resize((24, 24), antialias=True), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    predict = image_predictor(OnnxPredictor(path), transform, LABELS)
    demo = make_app(predict, LABELS, threshold=0.5)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, share=False, inline=False)
    try:
        client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        good = tmp_path/"foto.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(good)
        answer = client.predict(gradio_client.handle_file(str(good)), api_name="/predict")
        assert answer["label"] in LABELS
        probs = {c["label"]: c["confidence"] for c in answer["confidences"]}
        assert set(probs) == set(LABELS) and abs(sum(probs.values()) - 1) < 1e-4
        rgba = tmp_path/"rgba.png"                     # otro modo: se convierte, no falla
        Image.open(good).convert("RGBA").save(rgba)
        assert client.predict(gradio_client.handle_file(str(rgba)), api_name="/predict")["label"] in LABELS
        tiny = tmp_path/"chica.png"
        Image.new("RGB", (4, 4)).save(tiny)
        with pytest.raises(Exception, match="más grande"):
            client.predict(gradio_client.handle_file(str(tiny)), api_name="/predict")
        text = tmp_path/"no_es_imagen.png"
        text.write_text("hola")
        with pytest.raises(Exception, match="no es una imagen"):
            client.predict(gradio_client.handle_file(str(text)), api_name="/predict")
        # después de las entradas malas la app sigue contestando
        assert client.predict(gradio_client.handle_file(str(good)), api_name="/predict")["label"] in LABELS
    finally:
        demo.close()


def test_audit_finds_duplicates_leaks_and_corrupt_files(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "valid"):
        for c in ("a", "b"):
            (tmp_path/split/c).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(tmp_path/split/c/f"{i}.png")
    (tmp_path/"train"/"a"/"0.png").replace(tmp_path/"train"/"a"/"x.png")
    (tmp_path/"valid"/"b"/"1.png").write_bytes((tmp_path/"train"/"a"/"x.png").read_bytes())      # fuga exacta
    (tmp_path/"train"/"b"/"roto.png").write_bytes(b"nada")
    audit = audit_image_folder(tmp_path)
    assert [p.name for p in audit["corrupt"]] == ["roto.png"]
    assert len(audit["exact"]) == 1 and len(audit["leaks"]) == 1
    assert audit["counts"]["train"] == {"a": 3, "b": 4}
    with pytest.raises(FileNotFoundError, match="no tiene imágenes"):
        (tmp_path/"vacía").mkdir(); audit_image_folder(tmp_path/"vacía")


def test_group_split_keeps_groups_together():
    files = [str(i) for i in range(200)]
    groups = duplicate_groups(files, [(files[i], files[i + 1]) for i in range(0, 200, 2)])
    parts = group_split(groups, (0.6, 0.2, 0.2), seed=3)
    for i in range(0, 200, 2): assert parts[i] == parts[i + 1]
    shares = np.bincount(parts) / 200
    assert np.allclose(shares, (0.6, 0.2, 0.2), atol=0.05)


def test_exercises_reject_wrong_answers():
    from torchmetrics.classification import MulticlassCalibrationError  # noqa: F401  (la referencia del 14.1)
    def ece_unweighted(probs, labels, n_bins=15):           # promedio sin pesar por la cantidad de cada intervalo
        conf, pred = probs.max(1)
        correct = (pred == labels).float()
        gaps = [abs(correct[m].mean() - conf[m].mean()).item() for b in range(n_bins)
                if (m := (conf > b / n_bins) & (conf <= (b + 1) / n_bins)).any()]
        return float(np.mean(gaps))
    for wrong in (ece_unweighted, lambda p, l, n_bins=15: torch.tensor([0.1])):
        r = run_exercise("14.1", wrong)
        assert not r.passed and r.message.startswith("✗ Ejercicio 14.1, caso ")

    def no_batch(img, size):
        return v2.Compose([v2.Resize((size, size), antialias=True), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])(img.convert("RGB"))
    def no_scale(img, size):
        return v2.Compose([v2.Resize((size, size), antialias=True), v2.ToImage(), v2.ToDtype(torch.float32)])(img.convert("RGB"))[None]
    def no_convert(img, size):
        return v2.Compose([v2.Resize((size, size), antialias=True), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])(img)[None]
    for wrong, expect in ((no_batch, "forma"), (no_scale, "valores"), (no_convert, "")):
        r = run_exercise("14.2", wrong)
        assert not r.passed and expect in r.message, r.message

    def count_not_fraction(probs, labels, target):
        conf, pred = probs.max(1)
        correct = (pred == labels).float()[conf.argsort(descending=True)]
        ok = ((correct.cumsum(0) / torch.arange(1, len(correct) + 1)) >= target).nonzero()
        return 0.0 if len(ok) == 0 else float(ok[-1].item() + 1)
    def off_by_one(probs, labels, target):
        conf, pred = probs.max(1)
        correct = (pred == labels).float()[conf.argsort(descending=True)]
        ok = ((correct.cumsum(0) / torch.arange(1, len(correct) + 1)) >= target).nonzero()
        return 0.0 if len(ok) == 0 else ok[-1].item() / len(correct)
    for wrong in (count_not_fraction, off_by_one):
        r = run_exercise("14.3", wrong)
        assert not r.passed and "caso" in r.message
