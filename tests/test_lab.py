"`make lab` abre JupyterLab en castellano: el paquete de idioma está instalado y tools/jupyterlab fija el idioma."
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "tools" / "jupyterlab"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 60):
    "Pide `url` hasta que el servidor responda (arranca en unos segundos)."
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r: return json.load(r)
        except OSError:
            if time.monotonic() > deadline: raise
            time.sleep(0.5)


def test_make_lab_uses_the_project_settings():
    makefile = (ROOT / "Makefile").read_text()
    assert "--LabApp.app_settings_dir=$(CURDIR)/tools/jupyterlab" in makefile
    overrides = json.loads((SETTINGS / "overrides.json").read_text())
    assert overrides["@jupyterlab/translation-extension:plugin"]["locale"] == "es_ES"


@pytest.fixture
def lab(tmp_path):
    "Un JupyterLab con los ajustes del proyecto, sólo en 127.0.0.1 y sin contraseña; se cierra al terminar."
    port = free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--IdentityProvider.token=", "--ServerApp.password=",
           f"--LabApp.app_settings_dir={SETTINGS}", f"--ServerApp.root_dir={tmp_path}"]
    env = {"JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try: yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try: proc.wait(timeout=10)
        except subprocess.TimeoutExpired: proc.kill()


def test_jupyterlab_speaks_spanish(lab):
    languages = get_json(f"{lab}/lab/api/translations/")["data"]
    assert "es_ES" in languages, f"falta el paquete de idioma (jupyterlab-language-pack-es-ES): {sorted(languages)}"
    strings = get_json(f"{lab}/lab/api/translations/es_ES")["data"]["jupyterlab"]
    assert strings["Settings"] == ["Configuración"]   # el menú que muestra la captura de `make lab`
    schema = get_json(f"{lab}/lab/api/settings/@jupyterlab/translation-extension:plugin")["schema"]
    assert schema["properties"]["locale"]["default"] == "es_ES"   # el idioma que abre la interfaz
