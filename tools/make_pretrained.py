"""Fabrica los pesos de *Figuras* que vienen con el paquete (`vpc2/pesos/`), para que ninguna corrida pague el preentrenamiento.

Uso (una vez, en CPU, unos minutos):  OMP_NUM_THREADS=1 .venv/bin/python tools/make_pretrained.py
Entrena `test_resnet` de timm en *Figuras* con `SHIPPED_RECIPE` (semilla 0), guarda los pesos cuantizados a 8 bits
por canal (unos 400 KB) con sus metadatos, mide la exactitud de los pesos YA cuantizados en imágenes nunca vistas
e imprime el SHA-256 que hay que copiar en `SHIPPED_WEIGHTS` (nbs/06_transfer_learning.ipynb, celda exportada).
"""
import hashlib
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from vpc2.transfer import (SHIPPED_RECIPE, _build, _train_on_figuras, dequantize_state, figuras_tensors, quantize_state,
                           shipped_weights_dir, weights_stats)
from vpc2.data import FIGURAS_CLASSES

NAME, LIBRARY, SEED = "test_resnet", "timm", 0


def save_shipped(payload, path: Path) -> str:
    "Guarda `payload` en `path` (crea la carpeta) y devuelve el SHA-256 del archivo, el que va en vpc2 para verificarlo."
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    torch.set_num_threads(1)
    start = time.perf_counter()
    state, meta = _train_on_figuras(NAME, LIBRARY, SEED, SHIPPED_RECIPE, verbose=True)
    packed = quantize_state(state)
    model = _build(NAME, len(FIGURAS_CLASSES), LIBRARY)
    model.load_state_dict(dequantize_state(packed))
    mean, std = weights_stats(model)
    # imágenes que no se usaron ni para entrenar ni para validar (otro desplazamiento)
    x, y = figuras_tensors(1000, SHIPPED_RECIPE.size, seed=SEED, offset=10 * SHIPPED_RECIPE.n_images,
                           n_figures=(1, SHIPPED_RECIPE.n_figures), mean=mean, std=std)
    model.eval()
    with torch.no_grad():
        preds = torch.cat([model(xb).argmax(1) for xb, in DataLoader(TensorDataset(x), batch_size=250)])
    meta["exactitud_prueba_cuantizada"] = float((preds == y).float().mean())
    meta["segundos"] = round(time.perf_counter() - start, 1)
    path = shipped_weights_dir()/f"{LIBRARY}-{NAME}-figuras-s{SEED}.pt"
    digest = save_shipped({"state_dict_q": packed, "meta": meta}, path)
    print(f"{path} · {path.stat().st_size / 1024:.0f} KB · validación {meta['exactitud_validacion']:.1%} · "
          f"prueba (cuantizados) {meta['exactitud_prueba_cuantizada']:.1%} · {meta['segundos']} s")
    print("SHA-256:", digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
