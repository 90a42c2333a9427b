"""Achica las figuras guardadas en los cuadernos (DESIGN §3: cada cuaderno bajo 2 MB), les saca a las salidas de texto los códigos ANSI y las rutas de IPython de los avisos, y quita los widgets guardados sin estado.

`nbdev-test --save` guarda las figuras al doble de resolución (unos 2000 px de ancho). Esta herramienta las lleva a
`MAX_WIDTH` píxeles de ancho y, cuando la figura es una foto (donde PNG comprime mal), la guarda como JPEG si ocupa
menos de la mitad. Es determinista: la misma figura da los mismos bytes. `make outputs` la corre después de ejecutar.
Uso: `python tools/shrink_outputs.py [cuadernos…]` (por defecto, todos los de nbs/).
"""
import base64
import io
import json
import re
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
MAX_WIDTH = 1000
JPEG_QUALITY = 80
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")   # restos de barras de progreso (tqdm) en las salidas de texto
# un aviso de Python nombra la celda con una ruta de IPython que cambia en cada corrida, y repite la línea de código
IPYTHON_WARNING = re.compile(r"<ipython-input-[\w-]+>:\d+: (\w*Warning: [^\n]*\n)(  [^\n]*\n)?")


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG": img.save(buf, format="PNG", optimize=True)
    else: img.convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buf.getvalue()


def shrink_image(data: bytes) -> tuple[str, bytes]:
    "Devuelve `(mimetype, bytes)` de la figura achicada: PNG, o JPEG si es una foto y ocupa menos de la mitad."
    img = Image.open(io.BytesIO(data))
    img.load()
    if img.width > MAX_WIDTH:
        img = img.resize((MAX_WIDTH, round(img.height * MAX_WIDTH / img.width)), Image.LANCZOS)
    if img.mode == "RGBA" and img.getextrema()[3][0] == 255: img = img.convert("RGB")   # alfa opaco: sobra
    png = _encode(img, "PNG")
    jpeg = _encode(img, "JPEG")
    return ("image/jpeg", jpeg) if len(jpeg) < len(png) / 2 else ("image/png", png)


def _is_progress_residue(out: dict) -> bool:
    "Lo que queda de una barra de progreso: una salida de texto con sólo \\r y espacios."
    return out.get("output_type") == "stream" and not ANSI.sub("", "".join(out["text"])).strip()


def _is_widget(out: dict) -> bool:
    """Un widget de ipywidgets guardado sin su estado: fuera de un kernel vivo sólo se ve su texto de respaldo
    (`interactive(children=(IntSlider(…` ); la figura que dibujó queda en su propia salida."""
    return "application/vnd.jupyter.widget-view+json" in out.get("data", {})


def shrink_notebook(path: Path) -> tuple[int, int]:
    "Achica las figuras de un cuaderno en el lugar; devuelve (bytes antes, bytes después)."
    before = path.stat().st_size
    nb = json.loads(path.read_text())
    changed = False
    for cell in nb["cells"]:
        outputs = cell.get("outputs", [])
        kept = [o for o in outputs if not (_is_progress_residue(o) or _is_widget(o))]
        if len(kept) != len(outputs):
            cell["outputs"] = kept
            changed = True
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = "".join(out["text"]) if isinstance(out["text"], list) else out["text"]
                clean = IPYTHON_WARNING.sub(r"\1", ANSI.sub("", text))
                if clean != text:
                    out["text"] = clean.splitlines(keepends=True)
                    changed = True
            data = out.get("data", {})
            if "image/png" not in data: continue
            raw = base64.b64decode("".join(data["image/png"]))
            mime, small = shrink_image(raw)
            if len(small) >= len(raw): continue
            del data["image/png"]
            data[mime] = base64.b64encode(small).decode() + "\n"
            out.get("metadata", {}).pop("image/png", None)
            changed = True
    if changed: path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return before, path.stat().st_size


def main(args: list[str]) -> int:
    paths = [Path(a) for a in args] or sorted((ROOT/"nbs").glob("*.ipynb"))
    for p in paths:
        before, after = shrink_notebook(p)
        print(f"{p.name}: {before/2**20:.2f} MB → {after/2**20:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
