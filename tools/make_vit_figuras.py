"""Fabrica el ViT chico preentrenado en *Figuras* que viene con el paquete (`vpc2/pesos/vit-chico-figuras-s0.pt`), el modelo
de origen de la transferencia de nbs/08_vit.ipynb, para que ninguna corrida pague el preentrenamiento.

Uso (una vez, en CPU; unos minutos):  OMP_NUM_THREADS=1 .venv/bin/python tools/make_vit_figuras.py
Entrena `small_vit(5, 3, VIT_FIGURAS_RECIPE["size"])` (parches de 4×4, D=64, 4 bloques) con `VIT_FIGURAS_RECIPE`: imágenes
de *Figuras* de una sola figura (semilla 0; las tareas de destino del cuaderno usan otra semilla), en [0, 1], AdamW con
ciclo único. Guarda los pesos en float32 (unos 550 KB) con la receta, la exactitud de validación por época y la de
prueba (imágenes que no se usaron ni para entrenar ni para validar), e imprime el SHA-256 que hay que copiar en
`VIT_FIGURAS_SHA256` (nbs/08_vit.ipynb, celda exportada).
"""
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from make_pretrained import save_shipped   # tools/ está en sys.path al correr el script
from vpc2.transfer import figuras_tensors
from vpc2.vit import VIT_FIGURAS_FILE, VIT_FIGURAS_RECIPE, small_vit


@torch.no_grad()
def accuracy(model, x, y) -> float:
    model.eval()
    return float(torch.cat([model(xb).argmax(1) for xb in x.split(500)]).eq(y).float().mean())


def main() -> int:
    torch.set_num_threads(1)
    r, start = VIT_FIGURAS_RECIPE, time.process_time()
    opts = dict(size=r["size"], seed=r["seed"], n_figures=(1, 1), mean=(0.0,) * 3, std=(1.0,) * 3)
    x, y = figuras_tensors(r["n_images"], **opts)
    xv, yv = figuras_tensors(r["n_valid"], offset=r["n_images"], **opts)
    xt, yt = figuras_tensors(r["n_test"], offset=r["n_images"] + r["n_valid"], **opts)
    torch.manual_seed(r["seed"])
    model = small_vit(5, 3, r["size"])
    opt = torch.optim.AdamW(model.parameters(), lr=r["lr"], weight_decay=r["weight_decay"])
    per_epoch = r["n_images"] // r["batch_size"]
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, r["lr"], total_steps=r["epochs"] * per_epoch)
    g, history = torch.Generator().manual_seed(r["seed"]), []
    for epoch in range(r["epochs"]):
        model.train()
        perm = torch.randperm(r["n_images"], generator=g)
        for i in range(per_epoch):
            idx = perm[i * r["batch_size"]:(i + 1) * r["batch_size"]]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        history.append(round(accuracy(model, xv, yv), 4))
        print(f"época {epoch + 1}/{r['epochs']} · pérdida {loss.item():.3f} · validación {history[-1]:.1%} · "
              f"{time.process_time() - start:.0f} s de CPU", flush=True)
    meta = {"receta": dict(r), "exactitud_validacion_por_epoca": history, "exactitud_validacion": history[-1],
            "exactitud_prueba": round(accuracy(model, xt, yt), 4), "segundos_cpu": round(time.process_time() - start, 1),
            "torch": str(torch.__version__)}
    path = Path(__file__).resolve().parents[1]/"vpc2"/"pesos"/VIT_FIGURAS_FILE
    digest = save_shipped({"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "meta": meta}, path)
    print(f"{path} · {path.stat().st_size / 1024:.0f} KB · validación {meta['exactitud_validacion']:.1%} · "
          f"prueba {meta['exactitud_prueba']:.1%} · {meta['segundos_cpu']} s de CPU")
    print("SHA-256:", digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
