"""Los cuadernos se guardan con sus resultados (DESIGN §3): GitHub, Colab y el sitio los muestran sin ejecutar nada.

Falla si una celda que imprime o grafica no tiene su salida, si una salida guardada es un error, si un cuaderno pesa
más de 2 MB, si una salida delata rutas de la máquina que lo ejecutó o si el primer resultado no dice con qué modo y
dispositivo se produjo. Para regenerarlas: `make outputs`.
"""
import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT/"nbs").glob("[0-9][0-9]_*.ipynb"))
MAX_BYTES = 2 * 2**20
SHOWS = {"print", "show", "display", "show_image", "show_grid", "plot_curves", "plot_channels", "plot_feature_maps",
         "plot_confusion_matrix", "show_augmentations", "show_attention", "plot_history", "plot_history"}
BANNER = "Resultados producidos en modo"
MACHINE_PATHS = re.compile(r"(/root/|/home/\w+|/work/|/tmp/|C:\\\\Users)")


def code_cells(nb_path: Path) -> list[dict]:
    return [c for c in json.loads(nb_path.read_text())["cells"] if c["cell_type"] == "code"]


def source(cell) -> str:
    return "".join(cell["source"])


def _called(node) -> str | None:
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        f = node.value.func
        return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    return None


def _always_run(body):
    "Las sentencias que se ejecutan siempre: el nivel superior y el cuerpo de `for`/`with` (no `if`, `try` ni `def`)."
    for node in body:
        yield node
        if isinstance(node, (ast.For, ast.With)): yield from _always_run(node.body)


def should_have_output(src: str) -> bool:
    "¿La celda imprime, grafica o termina en una expresión (no una llamada) que Jupyter muestra?"
    # exportadas, ocultas (pruebas) o que nbdev-test no ejecuta (online, notest, slow, gpu): nada que exigir
    if re.search(r"^#\|\s*(export|exporti|hide|eval:\s*false|online|notest|slow|gpu)\b", src, re.M): return False
    lines = [l for l in src.splitlines() if not l.lstrip().startswith(("%", "!", "#|"))]
    try: tree = ast.parse("\n".join(lines))
    except SyntaxError: return False
    if not tree.body: return False
    last = tree.body[-1]
    shows_value = isinstance(last, ast.Expr) and not isinstance(last.value, (ast.Constant, ast.Call))
    if shows_value and not src.rstrip().endswith(";"): return True
    return any(_called(n) in SHOWS for n in _always_run(tree.body))


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_cells_that_show_something_have_their_output(nb):
    missing = [source(c)[:70] for c in code_cells(nb) if should_have_output(source(c)) and not c.get("outputs")]
    assert not missing, f"{nb.name}: celdas sin su salida guardada (corré `make outputs`): {missing}"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_no_error_outputs(nb):
    errors = [source(c)[:70] for c in code_cells(nb) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert not errors, f"{nb.name}: salidas de error guardadas en {errors}"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_notebook_is_small(nb):
    size = nb.stat().st_size
    assert size <= MAX_BYTES, f"{nb.name} pesa {size/2**20:.1f} MB (máximo 2 MB): achicá las figuras (figsize, dpi)."


def _text(output) -> str:
    if "text" in output: return "".join(output["text"])
    data = output.get("data", {})
    return "".join(data.get("text/plain", [])) + "".join(data.get("text/markdown", [])) + "".join(data.get("text/html", []))


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_outputs_do_not_leak_machine_paths(nb):
    leaks = {m for c in code_cells(nb) for o in c.get("outputs", []) for m in MACHINE_PATHS.findall(_text(o))}
    assert not leaks, f"{nb.name}: salidas con rutas de la máquina que lo ejecutó: {sorted(leaks)}"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_first_output_says_mode_and_device(nb):
    outputs = [_text(o) for c in code_cells(nb) for o in c.get("outputs", [])]
    assert outputs, f"{nb.name}: no tiene ninguna salida guardada (corré `make outputs`)"
    # 00_core define run_banner: allí la línea aparece donde se presenta, no al comienzo
    shown = outputs if nb.name == "00_core.ipynb" else outputs[:1]
    assert any(BANNER in t for t in shown), (
        f"{nb.name}: el primer resultado debe decir con qué modo y dispositivo se produjo (run_banner()): {outputs[0][:120]!r}")


def test_the_check_can_fail():
    "La heurística reconoce lo que se muestra y lo que no."
    assert should_have_output("print(1)")
    assert should_have_output("x = 1\nx")
    assert should_have_output("for i in range(3):\n    print(i)")
    assert should_have_output("fig = show_grid(xb)\nplt.show()")
    assert not should_have_output("x = 1")
    assert not should_have_output("#| export\ndef f(): print(1)")
    assert not should_have_output("try: f()\nexcept ValueError as e: print(e)")
    assert not should_have_output("test_eq(1, 1)")
    assert not should_have_output("#| hide\nprint(1)")
    assert not should_have_output("#| online\nprint(1)")
    assert should_have_output("#| export\nx = 1") is False
