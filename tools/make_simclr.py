"""Fabrica el codificador SimCLR de *Figuras* que viene con el paquete (`vpc2/pesos/simclr-figuras-s0.pt`), el que usa la
tabla de 10 etiquetas por clase de nbs/13_no_supervisado.ipynb, para que ninguna corrida pague el preentrenamiento largo.

Uso (una vez, en CPU; unos 4 minutos de CPU):  OMP_NUM_THREADS=1 .venv/bin/python tools/make_simclr.py [carpeta_de_puntos]
Preentrena `SimCLR(make_encoder(), 64)` con `SIMCLR_RECIPE` (imágenes de Figuras desde el desplazamiento 10 000, que no
son las de entrenamiento ni las de validación del cuaderno, en ningún modo), guarda los pesos en float32 (unos 120 KB)
con la receta y la pérdida por paso, e imprime el SHA-256 que hay que copiar en `SIMCLR_SHA256`
(nbs/13_no_supervisado.ipynb, celda exportada). Con `carpeta_de_puntos` guarda además el codificador cada 200 pasos.
"""
import sys
import time
from pathlib import Path

import torch

from make_pretrained import save_shipped   # tools/ está en sys.path al correr el script
from vpc2.unsupervised import SIMCLR_FILE, SIMCLR_RECIPE, pretrain_simclr


def main() -> int:
    torch.set_num_threads(1)
    checkpoints = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    start, losses = time.process_time(), []

    def report(step, model):
        if step % 100 == 0: print(f"paso {step}/{SIMCLR_RECIPE['steps']} · {time.process_time() - start:.0f} s de CPU", flush=True)
        if checkpoints and step % 200 == 0:
            checkpoints.mkdir(parents=True, exist_ok=True)
            torch.save(model.encoder.state_dict(), checkpoints/f"encoder-{step}.pt")

    model, losses = pretrain_simclr(SIMCLR_RECIPE, callback=report)
    meta = {"receta": dict(SIMCLR_RECIPE), "perdidas": [round(v, 4) for v in losses],
            "segundos_cpu": round(time.process_time() - start, 1), "torch": str(torch.__version__)}
    path = Path(__file__).resolve().parents[1]/"vpc2"/"pesos"/SIMCLR_FILE
    digest = save_shipped({"state_dict": model.state_dict(), "meta": meta}, path)
    print(f"{path} · {path.stat().st_size / 1024:.0f} KB · NT-Xent de {losses[0]:.2f} a {sum(losses[-20:]) / 20:.2f} · "
          f"{meta['segundos_cpu']} s de CPU")
    print("SHA-256:", digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
