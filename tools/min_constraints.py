"""Escribe las cotas inferiores declaradas en pyproject.toml como versiones exactas (`paquete==cota`),
para instalar con `pip install -c` el entorno mínimo de `make test-min`.

Sólo fija las dependencias de Python puro: las compiladas (torch, numpy, scipy, opencv…) quedan como
las resuelva pip, porque sus versiones viejas no tienen ruedas para el Python de hoy."""
import re
try:
    import tomllib
except ModuleNotFoundError:    # Python 3.10: el mismo lector, el que trae pip
    from pip._vendor import tomli as tomllib
from pathlib import Path

PURE_PYTHON = {"timm", "albumentations", "kornia", "torchmetrics", "torchinfo", "ipywidgets", "tqdm",
               "tensorboard", "fastcore", "grad-cam", "segmentation-models-pytorch", "accelerate", "diffusers"}


def floors(pyproject: Path) -> dict[str, str]:
    "Las cotas `>=` de las dependencias (y del extra dev) de Python puro: {paquete: versión}."
    project = tomllib.loads(pyproject.read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    found = {}
    for spec in specs:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*", spec)
        if m and m[1].lower() in PURE_PYTHON: found[m[1].lower()] = m[2]
    missing = PURE_PYTHON - set(found)
    if missing: raise SystemExit(f"pyproject.toml no declara una cota '>=' para {sorted(missing)}: agregala.")
    return found


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    out = "\n".join(f"{name}=={version}" for name, version in sorted(floors(root / "pyproject.toml").items()))
    print(out)
