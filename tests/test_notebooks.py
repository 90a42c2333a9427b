"Convenciones de los cuadernos: insignia de Colab, celda de instalación y la dirección del repositorio en un solo lugar."
import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT/"nbs").glob("[0-9][0-9]*_*.ipynb"))
REPO_URL = tomllib.loads((ROOT/"pyproject.toml").read_text())["project"]["urls"]["Repository"].rstrip("/")
GITHUB_PATH = REPO_URL.removeprefix("https://github.com/")


def cells(nb_path):
    return json.loads(nb_path.read_text())["cells"]


def source(cell):
    return "".join(cell["source"])


def test_there_are_class_notebooks():
    assert NBS, "no hay cuadernos numerados en nbs/"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_colab_badge_points_to_this_notebook(nb):
    "La insignia abre la edición para estudiantes (alumnos/), no la fuente con soluciones y pruebas."
    badge = f"https://colab.research.google.com/github/{GITHUB_PATH}/blob/main/alumnos/{nb.name}"
    md = "\n".join(source(c) for c in cells(nb) if c["cell_type"] == "markdown")
    assert badge in md, f"{nb.name}: falta la insignia 'Abrir en Colab' con {badge}"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_install_cell_uses_repository_url(nb):
    code = [source(c) for c in cells(nb) if c["cell_type"] == "code"]
    install = [s for s in code if re.search(r"^\s*%pip install", s, re.M)]   # una línea de la celda, no un texto que la escribe
    assert len(install) == 1, f"{nb.name}: debe haber exactamente una celda de instalación"
    cell = install[0]
    assert re.search(rf'"vpc2(\[[\w,-]+\])? @ git\+{re.escape(REPO_URL)}"', cell), \
        f"{nb.name}: la celda de instalación debe usar {REPO_URL} (de pyproject.toml), con los extras que el cuaderno necesite"
    assert "IN_TEST" in cell and "google.colab" in cell and "KAGGLE_KERNEL_RUN_TYPE" in cell
    first_vpc2_import = next(i for i, s in enumerate(code) if re.search(r"^\s*(from|import) vpc2", s, re.M) or "#| default_exp" in s)
    assert code.index(cell) <= first_vpc2_import + 1, f"{nb.name}: la instalación debe ir antes de importar vpc2"


@pytest.mark.parametrize("nb", NBS + [ROOT/"nbs"/"index.ipynb"], ids=lambda p: p.name)
def test_title_and_description(nb):
    first = source(cells(nb)[0])
    assert first.startswith("# ") and "\n> " in first, f"{nb.name}: la primera celda debe tener título '# …' y descripción '> …'"


def mixes_imports_and_code(src: str) -> bool:
    "¿La celda importa y además hace otra cosa? nbdev ejecuta al armar la documentación toda celda que importa."
    import ast
    try:
        tree = ast.parse("\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return False
    imports = (ast.Import, ast.ImportFrom)
    def optional_import(n):   # try: import x / except ImportError: x = None — nbdev puede ejecutarlo sin riesgo
        return isinstance(n, ast.Try) and all(isinstance(b, imports) for b in n.body)
    has_import = any(isinstance(n, imports) for n in ast.walk(tree))
    other = [n for n in tree.body if not isinstance(n, imports) and not optional_import(n)]
    return has_import and bool(other)


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_imports_live_in_their_own_cells(nb):
    bad = [source(c)[:80] for c in cells(nb) if c["cell_type"] == "code"
           and not re.search(r"^#\|\s*(export|exporti|exports|eval:\s*false)", source(c), re.M)
           and "%pip install" not in source(c) and mixes_imports_and_code(source(c))]
    assert not bad, (f"{nb.name}: celdas que mezclan imports con otro código (nbdev las ejecuta al armar la "
                     f"documentación y fallan); poné los imports en una celda aparte: {bad}")


@pytest.mark.parametrize("nb", NBS + [ROOT/"nbs"/"index.ipynb"], ids=lambda p: p.name)
def test_markdown_is_not_commented_out(nb):
    "Un cuaderno armado desde un script con formato percent puede dejar cada línea de texto como '# …' (un título)."
    bad = [source(c)[:60] for c in cells(nb)[1:] if c["cell_type"] == "markdown"
           and len([l for l in source(c).splitlines() if l]) >= 2
           and all(l.startswith("# ") or l == "#" for l in source(c).splitlines() if l)]
    assert not bad, f"{nb.name}: celdas de texto con cada línea comentada con '# ': {bad}"
