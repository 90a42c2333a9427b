"""Fuera del repositorio, como en Colab: vpc2 instalado desde una *wheel* (no editable) en un entorno nuevo y un
cuaderno copiado solo a una carpeta vacía, ejecutado con Jupyter tal cual (sin IN_TEST: el modo por defecto, el
completo), en corrida de humo y sin red."""
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["00_core.ipynb", "01_datos.ipynb", "02_visualizacion.ipynb"]


def run(cmd, **kw):
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert result.returncode == 0, f"{cmd} falló:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    "Un entorno nuevo con vpc2 instalado desde su wheel; las dependencias (torch, …) se toman del entorno actual."
    tmp = tmp_path_factory.mktemp("fuera")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp/"dist"), str(ROOT)])
    wheel = next((tmp/"dist").glob("vpc2-*.whl"))
    venv = tmp/"venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv/"bin"/"python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # Sólo la carpeta de paquetes del entorno actual (no sus .pth: así no entra la instalación editable de vpc2).
    (site/"_dependencias.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)])
    return python


def clean_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("IN_TEST", "CI", "VPC2_FAST", "VPC2_MODE", "PYTHONPATH")}
    env.update(VPC2_SMOKE="1", VPC2_OFFLINE="1", VPC2_CACHE=str(tmp/"cache"), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return env


def test_vpc2_comes_from_the_wheel(wheel_env, tmp_path):
    out = run([str(wheel_env), "-c", "import vpc2, vpc2.core; print(vpc2.__file__); print(vpc2.core.run_mode())"],
              cwd=tmp_path, env=clean_env(tmp_path)).stdout.split()
    assert Path(out[0]).is_relative_to(wheel_env.parents[1]), f"vpc2 no vino de la wheel: {out[0]}"
    assert not Path(out[0]).is_relative_to(ROOT)
    assert out[1] == "full", "sin IN_TEST ni CI el modo por defecto es el completo"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_alone_outside_the_repo(name, wheel_env, tmp_path):
    folder = tmp_path/"carpeta_vacía"
    folder.mkdir()
    nb = folder/name
    nb.write_bytes((ROOT/"nbs"/name).read_bytes())
    run([str(wheel_env), "-m", "nbconvert", "--to", "notebook", "--execute", "--inplace",
         "--ExecutePreprocessor.timeout=300", str(nb)], cwd=folder, env=clean_env(tmp_path))
    executed = json.loads(nb.read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert sum(1 for c in executed["cells"] if c.get("outputs")) > 5
