"""Descargas que fallan, contra servidores locales (sólo 127.0.0.1): el servidor rechaza la conexión, acepta y nunca
contesta, manda un archivo cortado o uno corrupto. Cada caso termina en segundos con un mensaje en castellano, no deja
nada a medio escribir en la caché y `load_dataset(..., fallback=True)` sigue con Figuras."""
import hashlib
import io
import socket
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vpc2.data as data
from vpc2.core import set_mode
from vpc2.data import DatasetNotFoundError, DownloadError, Figuras, download_file, file_md5, load_dataset

PAYLOAD = bytes(range(256)) * 64      # 16 KiB
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def hymenoptera_zip(n: int = 2) -> bytes:
    "Un hymenoptera_data.zip de verdad en miniatura: train/val × ants/bees con imágenes JPEG."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for split in ("train", "val"):
            for k, cls in enumerate(("ants", "bees")):
                for i in range(n):
                    img = Image.fromarray(Figuras(1, size=24, seed=10*k + i)[0][0])
                    jpg = io.BytesIO(); img.save(jpg, format="JPEG")
                    z.writestr(f"hymenoptera_data/{split}/{cls}/{i}.jpg", jpg.getvalue())
    return buf.getvalue()


class Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def log_message(self, *args): pass

    def do_GET(self):
        if self.path == "/cortado":                      # anuncia el doble de lo que manda y corta
            self.send_response(200)
            self.send_header("Content-Length", str(2*len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
            self.wfile.flush()
            self.close_connection = True
            return
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404); return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    Handler.files = {"/bueno.bin": PAYLOAD, "/hymenoptera_data.zip": hymenoptera_zip(), "/roto.zip": b"esto no es un zip" * 100}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown(); httpd.server_close()


@pytest.fixture
def refused_url():
    "Un puerto en el que nadie escucha: la conexión se rechaza."
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    return f"http://127.0.0.1:{port}/archivo.bin"


@pytest.fixture
def silent_url():
    "Un servidor que acepta la conexión (el núcleo completa el saludo TCP) y nunca contesta."
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
    yield f"http://127.0.0.1:{s.getsockname()[1]}/archivo.bin"
    s.close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_download_ok_is_atomic_and_verified(server, tmp_path):
    dest = download_file(f"{server}/bueno.bin", tmp_path/"c"/"bueno.bin", md5=MD5, progress=False)
    assert dest.read_bytes() == PAYLOAD and file_md5(dest) == MD5
    assert leftovers(tmp_path/"c") == ["bueno.bin"]


def test_refused(refused_url, tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match="rechazó la conexión") as e:
        download_file(refused_url, tmp_path/"c"/"archivo.bin", timeout=2, progress=False)
    assert refused_url in str(e.value)
    assert time.perf_counter() - t0 < 10
    assert leftovers(tmp_path/"c") == []


def test_silent_server_times_out(silent_url, tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match="no respondió en 1 s"):
        download_file(silent_url, tmp_path/"c"/"archivo.bin", timeout=1, progress=False)
    assert time.perf_counter() - t0 < 10
    assert leftovers(tmp_path/"c") == []


def test_truncated_download_is_removed(server, tmp_path):
    with pytest.raises(DownloadError, match="cort"):
        download_file(f"{server}/cortado", tmp_path/"c"/"cortado.bin", timeout=2, progress=False)
    assert leftovers(tmp_path/"c") == []


def test_corrupt_download_is_removed(server, tmp_path):
    with pytest.raises(DownloadError, match="corrupto"):
        download_file(f"{server}/bueno.bin", tmp_path/"c"/"bueno.bin", md5="0"*32, progress=False)
    assert leftovers(tmp_path/"c") == []


def test_http_error_is_explained(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download_file(f"{server}/no_existe.bin", tmp_path/"c"/"x.bin", progress=False)


# ---- a través de load_dataset, como lo usa un cuaderno en modo completo con red ----

@pytest.fixture
def online_full(monkeypatch):
    "Modo completo 'con red' apuntando los archivos de hymenoptera a `url`."
    set_mode("full")
    monkeypatch.setattr(data, "has_network", lambda *a, **k: True)
    def point_to(url): monkeypatch.setattr(data, "_resources", lambda name: [(url, None, "")])
    yield point_to
    set_mode(None)


def test_load_dataset_downloads_and_extracts(server, online_full, tmp_path):
    online_full(f"{server}/hymenoptera_data.zip")
    ds = load_dataset("hymenoptera", root=tmp_path)
    assert len(ds) == 4 and ds.classes == ["ants", "bees"]
    img, label = ds[0]
    assert np.asarray(img).shape == (24, 24, 3)
    assert not list(tmp_path.rglob("*.part"))


@pytest.mark.parametrize("case", ["rechazado", "mudo", "corrupto"])
def test_load_dataset_failures_fall_back(case, server, online_full, refused_url, silent_url, tmp_path, monkeypatch, capsys):
    url = {"rechazado": refused_url, "mudo": silent_url, "corrupto": f"{server}/roto.zip"}[case]
    online_full(url)
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT", 1.0)
    t0 = time.perf_counter()
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("hymenoptera", root=tmp_path)
    msg = str(e.value)
    for piece in ("hormigas y abejas", str(tmp_path/"hymenoptera_data"), "la descarga falló", "fallback=True"):
        assert piece in msg, (piece, msg)
    assert leftovers(tmp_path) == [], "no debe quedar nada a medio escribir (ni .part ni un zip roto)"
    ds = load_dataset("hymenoptera", root=tmp_path, fallback=True)
    assert isinstance(ds, Figuras) and ds.fallback_for == "hymenoptera"
    assert "Sigo con Figuras" in capsys.readouterr().out
    assert time.perf_counter() - t0 < 20
