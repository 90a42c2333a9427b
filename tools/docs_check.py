"""Paso de procesamiento de nbdev previo a Quarto, sin Quarto (que no se puede instalar sin red).

Hace lo mismo que `nbdev-proc-nbs` salvo instalar Quarto: regenera `nbdev.yml`, el índice de
módulos y procesa cada cuaderno en `_proc/`. Después comprueba que el sitio queda bien armado:
cada cuaderno procesado, `lang: es`, y la barra lateral con todos los cuadernos en orden del curso.
"""
import sys
from pathlib import Path

import yaml
import nbdev.doclinks
from nbdev.config import get_config
from nbdev.quarto import refresh_quarto_yml
from nbdev.serve import proc_nbs


def sidebar_entries(contents) -> list[str]:
    "Los archivos de la barra lateral, en el orden en que aparecen (las secciones se recorren en orden)."
    out = []
    for item in contents:
        if isinstance(item, str): out.append(item)
        elif isinstance(item, dict):
            if "href" in item: out.append(item["href"])
            out += sidebar_entries(item.get("contents", []))
    return out


def check_site(nbs: Path, proc: Path) -> list[str]:
    "Lista de problemas del sitio (vacía si está todo bien)."
    problems = []
    notebooks = sorted(p.name for p in nbs.glob("*.ipynb"))
    quarto = yaml.safe_load((nbs/"_quarto.yml").read_text())
    if quarto.get("lang") != "es": problems.append("_quarto.yml debe declarar 'lang: es'.")
    sidebar = yaml.safe_load((nbs/"sidebar.yml").read_text())["website"]["sidebar"]["contents"]
    listed = sidebar_entries(sidebar)
    missing = [nb for nb in notebooks if nb not in listed]
    if missing: problems.append(f"Cuadernos que faltan en nbs/sidebar.yml: {missing}. Agregalos en su sección.")
    ghosts = [f for f in listed if not (nbs/f).exists()]
    if ghosts: problems.append(f"nbs/sidebar.yml nombra archivos que no existen: {ghosts}.")
    numbered = [f for f in listed if f[:2].isdigit()]
    if numbered != sorted(numbered): problems.append(f"La barra lateral no sigue el orden del curso: {numbered}.")
    if listed[:1] != ["index.ipynb"]: problems.append("La barra lateral debe empezar por index.ipynb.")
    unprocessed = [nb for nb in notebooks if not (proc/nb).exists()]
    if unprocessed: problems.append(f"nbdev no procesó: {unprocessed}.")
    return problems


def main() -> int:
    cfg = get_config()
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    proc = proc_nbs(cfg.nbs_path, n_workers=2)
    problems = check_site(Path(cfg.nbs_path), Path(proc))
    for p in problems: print("ERROR:", p)
    if not problems:
        n = len(list(Path(cfg.nbs_path).glob("*.ipynb")))
        print(f"Documentación: {n} cuadernos procesados en {proc.name}/ y barra lateral completa, en orden. "
              "Falta sólo Quarto (make docs, o el flujo de GitHub).")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
