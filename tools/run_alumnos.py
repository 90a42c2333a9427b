"""La edición para estudiantes (`alumnos/`), ejecutada como la abriría un estudiante en Colab.

- `vpc2` instalado desde su *wheel* (no la instalación editable del repositorio) en un entorno nuevo que ve sólo las
  dependencias de ejecución de vpc2 (sin extras: ni nbdev, ni diffusers, ni gradio) más Jupyter para ejecutar;
  los paquetes se enlazan desde el entorno actual en lugar de reinstalarse.
- Cada cuaderno solo, en una carpeta vacía fuera del repositorio, con `jupyter nbconvert --execute` (sin IN_TEST ni
  CI: el modo por defecto, el completo), en corrida de humo (`VPC2_SMOKE=1`), sin red (`VPC2_OFFLINE=1`) y con una
  caché vacía.
- Falla si una celda termina en error o si un ejercicio no queda "pendiente" (la edición no trae soluciones).

Uso: `python tools/run_alumnos.py [cuaderno ...]` (por defecto, todos los de alumnos/).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
ALUMNOS = ROOT/"alumnos"
KERNEL = ["nbconvert", "ipykernel"]                 # lo que Colab ya trae para ejecutar un cuaderno
WORKERS = int(os.environ.get("N_WORKERS", "2"))


def runtime_closure(roots: list[str]) -> set[str]:
    "Las distribuciones instaladas que necesitan `roots`, con sus dependencias (y los extras que ellas piden), recursivamente."
    base = default_environment()
    seen, todo = set(), [(r, frozenset()) for r in roots]
    while todo:
        name, extras = todo.pop()
        name = canonicalize_name(name)
        if (name, extras) in seen: continue
        try: dist = metadata.distribution(name)
        except metadata.PackageNotFoundError: continue      # una dependencia opcional de plataforma que no está
        seen.add((name, extras))
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or any(req.marker.evaluate(base | {"extra": e}) for e in {""} | extras):
                todo.append((req.name, frozenset(req.extras)))
    return {name for name, _ in seen}


def vpc2_requirements() -> list[str]:
    "Las dependencias de ejecución que declara vpc2 (sin extras)."
    env = default_environment() | {"extra": ""}
    return [Requirement(s).name for s in metadata.requires("vpc2") or []
            if Requirement(s).marker is None or Requirement(s).marker.evaluate(env)]


def top_level_entries(name: str) -> set[str]:
    "Los nombres del primer nivel de site-packages que instala una distribución (paquetes, módulos y su .dist-info)."
    site = Path(sysconfig.get_paths()["purelib"])
    out = set()
    for f in metadata.distribution(name).files or []:
        parts = Path(f).parts
        if parts and parts[0] != ".." and not parts[0].endswith(".pth") and parts[0] != "__pycache__":
            if (site/parts[0]).exists(): out.add(parts[0])
    return out


def make_env(tmp: Path) -> Path:
    "Un entorno nuevo con la wheel de vpc2 y sólo sus dependencias de ejecución enlazadas; devuelve su python."
    dist = tmp/"dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)], check=True)
    wheel = next(dist.glob("vpc2-*.whl"))
    venv = tmp/"venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv/"bin"/"python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    here = Path(sysconfig.get_paths()["purelib"])
    names = runtime_closure(vpc2_requirements() + KERNEL) - {"vpc2"}
    for entry in sorted(set().union(*(top_level_entries(n) for n in names))):
        if not (site/entry).exists(): (site/entry).symlink_to(here/entry)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)],
                   check=True)
    return python


def clean_env(cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("IN_TEST", "CI", "VPC2_FAST", "VPC2_MODE", "PYTHONPATH", "VIRTUAL_ENV")}
    return env | dict(VPC2_SMOKE="1", VPC2_OFFLINE="1", VPC2_CACHE=str(cache), OMP_NUM_THREADS="1", MPLBACKEND="Agg",
                      GRADIO_ANALYTICS_ENABLED="False")


def problems_in(executed: dict) -> list[str]:
    "Celdas con error y ejercicios que no quedaron pendientes."
    out = []
    for i, cell in enumerate(executed["cells"]):
        if cell["cell_type"] != "code": continue
        source = "".join(cell["source"])
        text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error": out.append(f"celda {i}: {o.get('ename')}: {o.get('evalue', '')[:300]}")
        if re.search(r"^\s*check_exercise\(", source, re.M) and "pendiente" not in text:
            out.append(f"celda {i}: el ejercicio no quedó pendiente: {text.strip()[:200]!r}")
    return out


def run_one(python: Path, nb: Path, tmp: Path) -> tuple[str, float, list[str]]:
    folder = tmp/nb.stem
    folder.mkdir()
    copy = folder/nb.name
    copy.write_bytes(nb.read_bytes())
    start = time.time()
    result = subprocess.run([str(python), "-m", "nbconvert", "--to", "notebook", "--execute", "--inplace",
                             "--ExecutePreprocessor.timeout=600", "--allow-errors", str(copy)],
                            cwd=folder, env=clean_env(folder/"cache"), capture_output=True, text=True)
    elapsed = time.time() - start
    if result.returncode != 0:
        return nb.name, elapsed, [f"nbconvert terminó con {result.returncode}: {result.stderr[-1500:]}"]
    return nb.name, elapsed, problems_in(json.loads(copy.read_text(encoding="utf-8")))


def main(args: list[str]) -> int:
    notebooks = [Path(a) for a in args] or sorted(ALUMNOS.glob("*.ipynb"))
    if not notebooks:
        print("ERROR: no hay cuadernos en alumnos/: corré `make alumnos`.")
        return 1
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="vpc2-alumnos-") as tmp:
        tmp = Path(tmp)
        python = make_env(tmp)
        check = subprocess.run([str(python), "-c", "import vpc2, importlib.util as u; print(vpc2.__file__); "
                                "print([m for m in ('nbdev', 'diffusers', 'gradio', 'pytest') if u.find_spec(m)])"],
                               capture_output=True, text=True, cwd=tmp, check=True).stdout.split("\n")
        if str(ROOT) in check[0] or check[1] != "[]":
            print(f"ERROR: el entorno no es el de un estudiante: vpc2 de {check[0]}, extras visibles {check[1]}")
            return 1
        print(f"Entorno de estudiante listo en {time.time() - start:.0f} s (vpc2 desde la wheel, sin extras).")
        with ThreadPoolExecutor(WORKERS) as pool:
            results = list(pool.map(lambda nb: run_one(python, nb, tmp), notebooks))
    failed = 0
    for name, elapsed, problems in results:
        print(f"{name}: {elapsed:.0f} s" + ("" if not problems else "  ← FALLA"))
        for p in problems: print(f"    {p}")
        failed += bool(problems)
    print(f"Edición para estudiantes (desde la wheel, sin red, modo completo en corrida de humo): "
          f"{len(results) - failed} de {len(results)} cuadernos bien, {time.time() - start:.0f} s en total.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
