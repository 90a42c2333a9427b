"""Fuera del repositorio, como en Colab: el entorno en el que `make nbtest-alumnos` ejecuta la edición para estudiantes.

vpc2 viene de su *wheel* (no de la instalación editable), el modo por defecto es el completo, están las dependencias de
ejecución y no los extras de desarrollo (nbdev, pytest, diffusers, gradio): un cuaderno que los importe sin cuidarse
falla ahí, como fallaría en Colab.
"""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/"tools"))
import run_alumnos  # noqa: E402


@pytest.fixture(scope="module")
def student_python(tmp_path_factory):
    return run_alumnos.make_env(tmp_path_factory.mktemp("fuera"))


def run(python, code, tmp):
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp,
                            env=run_alumnos.clean_env(tmp/"cache"))
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split("\n")


def test_vpc2_comes_from_the_wheel(student_python, tmp_path):
    out = run(student_python, "import vpc2, vpc2.core; print(vpc2.__file__); print(vpc2.core.run_mode())", tmp_path)
    assert Path(out[0]).is_relative_to(student_python.parents[1]), f"vpc2 no vino de la wheel: {out[0]}"
    assert not Path(out[0]).is_relative_to(ROOT)
    assert out[1] == "full", "sin IN_TEST ni CI el modo por defecto es el completo"


def test_only_runtime_dependencies(student_python, tmp_path):
    code = ("import importlib.util as u; "
            "print([m for m in ('torch', 'torchvision', 'timm', 'sklearn', 'nbconvert', 'ipykernel') if not u.find_spec(m)]); "
            "print([m for m in ('nbdev', 'pytest', 'diffusers', 'gradio', 'jupyterlab') if u.find_spec(m)])")
    missing, extras = run(student_python, code, tmp_path)[:2]
    assert missing == "[]", f"faltan dependencias de ejecución: {missing}"
    assert extras == "[]", f"el entorno del estudiante ve extras de desarrollo: {extras}"


def test_closure_follows_extras_of_dependencies():
    "nbconvert pide bleach[css]: sin seguir ese extra faltaría tinycss2 y nbconvert no importa."
    names = run_alumnos.runtime_closure(["nbconvert"])
    assert {"bleach", "tinycss2"} <= names
