"""Los ejercicios y la edición para estudiantes (alumnos/).

La edición está al día con nbs/ (`make check-alumnos`), no trae soluciones, ni celdas ocultas, ni directivas de nbdev,
ni nada de nbdev; cada comprobación de nbs/ nombra un ejercicio registrado en el módulo de su cuaderno; el sitio
(el procesador de nbdev) muestra los ejercicios sin solución. Que la edición corra de principio a fin desde la wheel,
sin extras y sin red, lo prueba `make nbtest-alumnos` (tools/run_alumnos.py).
"""
import json
import re
from pathlib import Path

import pytest

from vpc2.ejercicios import (BEGIN_SOLUTION, END_SOLUTION, EXERCISE_MODULES, HideSolutions, get_exercise,
                             is_check_cell, is_solution_cell, student_notebook, student_sources)

ROOT = Path(__file__).resolve().parents[1]
SOURCES = student_sources(ROOT/"nbs")
CHECK_LABEL = re.compile(r"""^\s*check_exercise\(\s*["'](\d+\.\d+)["']""", re.M)


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def text(cell) -> str:
    return "".join(cell["source"])


def test_every_source_has_its_student_notebook():
    assert SOURCES
    assert sorted(p.name for p in (ROOT/"alumnos").glob("*.ipynb")) == [p.name for p in SOURCES], \
        "alumnos/ no corresponde a nbs/: corré `make alumnos`"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.name)
def test_student_notebook_is_up_to_date(src):
    expected = student_notebook(json.loads(src.read_text(encoding="utf-8")))
    written = json.loads((ROOT/"alumnos"/src.name).read_text(encoding="utf-8"))
    assert written == expected, f"alumnos/{src.name} quedó vieja: corré `make alumnos` y confirmá el cambio"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.name)
def test_student_notebook_has_no_solution_and_no_plumbing(src):
    student = cells(ROOT/"alumnos"/src.name)
    code = [text(c) for c in student if c["cell_type"] == "code"]
    for s in code:
        assert not re.search(rf"^\s*({BEGIN_SOLUTION}|{END_SOLUTION})\s*$", s, re.M), f"una solución quedó: {s[:80]!r}"
        assert not re.search(r"^\s*#\|", s, re.M), f"una directiva de nbdev quedó en la edición: {s[:80]!r}"
        assert not re.search(r"^\s*(from nbdev|import nbdev|show_doc\()", s, re.M), f"nbdev en la edición: {s[:80]!r}"
    assert code and "%pip install" in code[0], "la instalación para Colab/Kaggle debe ser la primera celda de código"
    assert "IN_TEST" not in code[0]
    for c in student:
        if c["cell_type"] == "code" and (is_check_cell(text(c)) or "NotImplementedError(\"Ejercicio" in text(c)):
            assert not c["outputs"], "las celdas de los ejercicios van sin salida en la edición"
    md = "\n".join(text(c) for c in student if c["cell_type"] == "markdown")
    assert "/blob/main/nbs/" not in md, "las insignias de la edición deben apuntar a alumnos/"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.name)
def test_checks_name_registered_exercises_of_their_notebook(src):
    visible = [text(c) for c in cells(src) if c["cell_type"] == "code" and not re.match(r"\s*#\|\s*hide", text(c))]
    labels = [l for s in visible for l in CHECK_LABEL.findall(s)]
    number = str(int(re.match(r"\d+", src.name)[0]))
    for label in labels:
        assert label.split(".")[0] == number, f"{src.name}: el ejercicio {label} es de otro cuaderno"
        if label != "0.0": assert get_exercise(label).make_cases(), f"{label} sin casos"
    assert len(labels) == len(set(labels)), f"{src.name}: un ejercicio comprobado dos veces: {labels}"
    solutions = sum(is_solution_cell(text(c)) for c in cells(src) if c["cell_type"] == "code")
    assert solutions >= len(set(labels)) - ("0.0" in labels), f"{src.name}: hay comprobaciones sin celda de solución"


def test_exercise_modules_cover_every_notebook():
    numbers = {str(int(re.match(r"\d+", p.name)[0])) for p in SOURCES}
    assert numbers <= set(EXERCISE_MODULES)


def test_site_shows_no_solution():
    "El procesador que usa el sitio (doc_procs en pyproject.toml) deja cada solución como la recibe el estudiante."
    from nbdev.config import get_config
    from nbdev.processors import FilterDefaults
    from fastcore.nbio import read_nb
    assert "vpc2.ejercicios:HideSolutions" in str(get_config().get("doc_procs"))
    for src in SOURCES:
        nb = read_nb(src)
        proc = HideSolutions(nb)
        for cell in nb.cells: proc(cell)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert not any(is_solution_cell(s) for s in code), src.name
    assert FilterDefaults().xtra_procs() == [HideSolutions]
