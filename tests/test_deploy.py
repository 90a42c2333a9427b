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


# --- La carpeta de fotos: con red, un .zip ImageFolder bajado (hymenoptera); si falla, la carpeta de reemplazo. ---
# Servidores sólo en 127.0.0.1: el que sirve el .zip, el que contesta 404, el que manda basura y el que nunca contesta.
import contextlib  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import threading  # noqa: E402
import zipfile  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

import vpc2.deploy as deploy  # noqa: E402
from vpc2.data import DownloadError  # noqa: E402


def _tree_zip(top: str = "hymenoptera_data", splits=("train", "val"), classes=("ants", "bees")) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for split in splits:
            for k, c in enumerate(classes):
                for i in range(2):
                    jpg = io.BytesIO()
                    Image.fromarray(np.full((20, 24, 3), 40 * k + 10 * i, np.uint8)).save(jpg, format="JPEG")
                    z.writestr(f"{top}/{split}/{c}/{i}.jpg", jpg.getvalue())
    return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    files: dict = {}
    hits: list = []

    def log_message(self, *args): pass

    def do_GET(self):
        self.hits.append(self.path)
        if self.path.startswith("/mudo/"):              # acepta y nunca contesta (hasta que el cliente se cansa)
            threading.Event().wait(3); return
        body = self.files.get(self.path.split("/")[-1])
        if body is None: self.send_error(404); return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def server():
    _Handler.files = {"hymenoptera_data.zip": _tree_zip(), "basura.zip": b"esto no es un zip",
                      "plano.zip": _tree_zip(splits=("todo",))}
    _Handler.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown(); httpd.server_close()


def _fallback(dest):
    from vpc2.data import write_imagefolder
    return write_imagefolder(dest, 5, 5, size=16)


def _photo_folder(tmp_path, url, **kw):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        folder, source = deploy.photo_folder(tmp_path/"fotos", _fallback, url=url, download=True, cache=tmp_path/"cache", **kw)
    return folder, source, out.getvalue()


def test_photo_folder_downloads_checks_and_copies_the_real_tree(server, tmp_path, monkeypatch):
    monkeypatch.setattr(deploy, "has_network", lambda *a, **k: True)
    md5 = hashlib.md5(_Handler.files["hymenoptera_data.zip"]).hexdigest()
    folder, source, printed = _photo_folder(tmp_path, f"{server}/hymenoptera_data.zip", md5=md5)
    assert source == "real" and printed == "" and folder == tmp_path/"fotos"
    assert deploy.check_image_tree(folder) == {"train": {"ants": 2, "bees": 2}, "val": {"ants": 2, "bees": 2}}
    assert (tmp_path/"cache"/"hymenoptera_data").is_dir() and not list((tmp_path/"cache").glob("*.part"))
    (folder/"train"/"ants"/"0.jpg").unlink()             # la lección ensucia su copia; la caché queda intacta
    assert (tmp_path/"cache"/"hymenoptera_data"/"train"/"ants"/"0.jpg").is_file()
    again = deploy.photo_folder(tmp_path/"otra", _fallback, url=f"{server}/hymenoptera_data.zip", download=True, cache=tmp_path/"cache")
    assert again == (tmp_path/"otra", "real") and _Handler.hits == ["/hymenoptera_data.zip"]   # de la caché: no vuelve a bajar


@pytest.mark.parametrize("name, why", [("falta.zip", "404"), ("basura.zip", "no es un .zip válido"),
                                       ("hymenoptera_data.zip", "corrupto"), ("plano.zip", "no es un árbol ImageFolder"),
                                       ("mudo/hymenoptera_data.zip", "no respondió")])
def test_photo_folder_falls_back_with_a_spanish_notice(server, tmp_path, monkeypatch, name, why):
    monkeypatch.setattr(deploy, "has_network", lambda *a, **k: True)
    md5 = "0" * 32 if why == "corrupto" else None
    folder, source, printed = _photo_folder(tmp_path, f"{server}/{name}", md5=md5, timeout=1)
    assert source == "local" and printed.startswith("Aviso: no uso las fotos") and why in printed, printed
    assert len(list(folder.rglob("*.png"))) == 10                                  # la carpeta de reemplazo
    assert not [p for p in (tmp_path/"cache").rglob("*") if p.suffix == ".part" or p.name.endswith(".zip")] or why == "no es un árbol ImageFolder"


def test_photo_folder_without_network_or_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(deploy, "has_network", lambda *a, **k: False)
    _, source, printed = _photo_folder(tmp_path, "http://127.0.0.1:9/x.zip")
    assert source == "local" and "no hay conexión a internet" in printed
    monkeypatch.setattr(deploy, "has_network", lambda *a, **k: True)
    with socket.socket() as s:                                                     # un puerto libre: nadie escucha
        s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    _, source, printed = _photo_folder(tmp_path/"b", f"http://127.0.0.1:{port}/hymenoptera_data.zip")
    assert source == "local" and "rechazó la conexión" in printed
    monkeypatch.setattr(deploy, "is_fast", lambda: True)                           # en modo rápido no se baja nada
    monkeypatch.setattr(deploy, "has_network", lambda *a, **k: pytest.fail("en modo rápido no hay que probar la red"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert deploy.photo_folder(tmp_path/"c", _fallback, url="http://127.0.0.1:9/x.zip")[1] == "local"
    assert "en modo rápido" in out.getvalue()


def test_fetch_refuses_paths_outside_its_folder(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z: z.writestr("../fuera.txt", "x")
    (tmp_path/"malo.zip").write_bytes(buf.getvalue())
    with pytest.raises(DownloadError, match="rutas fuera de su carpeta"):
        deploy.fetch_image_folder((tmp_path/"malo.zip").as_uri(), tmp_path/"cache")
    assert not (tmp_path/"fuera.txt").exists() and not (tmp_path/"cache"/"fuera.txt").exists()


def test_space_app_runs_from_its_folder(exported, tmp_path, monkeypatch):
    "El app.py que escribe write_space (el de `python app.py` y de Hugging Face Spaces) arma la app y contesta por la API."
    pytest.importorskip("gradio")
    gradio_client = pytest.importorskip("gradio_client")
    import runpy
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    _, path = exported
    space = deploy.write_space(tmp_path/"app", path, LABELS, 24, temperature=2.0, threshold=0.5, title="Prueba")
    ns = runpy.run_path(str(space/"app.py"), run_name="app")       # sin "__main__": arma la app sin lanzarla
    assert ns["info"]["title"] == "Prueba" and ns["info"]["labels"] == LABELS
    demo, port = ns["demo"], _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, share=False, inline=False)
    try:
        good = tmp_path/"foto.png"
        Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 30, 3), dtype=np.uint8)).save(good)
        answer = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            gradio_client.handle_file(str(good)), api_name="/predict")
        assert answer["label"] in LABELS
    finally:
        demo.close()
