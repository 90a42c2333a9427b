"""Benchmark de la transferencia de estilo (cuaderno 11): pasos por segundo de `style_transfer` a 64, 128 y 256 px, con la
VGG-19 completa hasta `relu5_1` (las capas del artículo; pesos al azar, que cuestan lo mismo que los de ImageNet) y con
las capas bajas hasta `relu3_1` que el cuaderno usa sin red. En CPU, y también en GPU si hay una.

Cada configuración hace unos pasos de calentamiento y luego se mide la mediana de varias rondas; las configuraciones de un
mismo tamaño se alternan en cada ronda para compartir las condiciones de la máquina. Se imprime la carga de la máquina.
Uso: .venv/bin/python bench/bench_interpret.py [--sizes 64 128 256] [--steps 3] [--repeats 3] [--threads 1]"""
import argparse
import os
import platform
import statistics
import time

import torch

from vpc2.interpret import VGG19_LAYERS, FeatureExtractor, style_transfer
from vpc2.models import VGG_CFGS, make_vgg_features

STYLE5 = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
STYLE3 = ("relu1_1", "relu2_1", "relu3_1")


def extractors(device) -> dict[str, FeatureExtractor]:
    torch.manual_seed(0)
    cnn = make_vgg_features(VGG_CFGS[19])
    low = {k: VGG19_LAYERS[k] for k in STYLE3}
    return {"VGG-19 hasta relu5_1": FeatureExtractor(cnn, VGG19_LAYERS).to(device),
            "VGG-19 hasta relu3_1": FeatureExtractor(cnn, low, content_layers=("relu3_1",), style_layers=STYLE3).to(device)}


def steps_per_second(feats, size: int, steps: int, repeats: int, device) -> dict[str, float]:
    content, style = torch.rand(3, size, size, device=device), torch.rand(3, size, size, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for f in feats.values(): style_transfer(content, style, f, steps=1)   # calentamiento
    times = {k: [] for k in feats}
    for _ in range(repeats):
        for k, f in feats.items():
            sync(); t0 = time.perf_counter()
            style_transfer(content, style, f, steps=steps)
            sync(); times[k].append((time.perf_counter() - t0) / steps)
    return {k: 1 / statistics.median(v) for k, v in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {a.threads} hilo(s) de CPU")
    print(f"carga de la máquina (1, 5, 15 min): {os.getloadavg()}")
    for device in devices:
        feats = extractors(device)
        print(f"\nDispositivo: {device}. Pasos por segundo (cada paso: adelante + atrás + Adam), mediana de {a.repeats} rondas")
        print(f"{'px':>5} | " + " | ".join(f"{k:>22}" for k in feats) + " | cociente")
        for size in a.sizes:
            r = steps_per_second(feats, size, a.steps, a.repeats, device)
            vals = list(r.values())
            print(f"{size:>5} | " + " | ".join(f"{v:>22.2f}" for v in vals) + f" | {vals[1] / vals[0]:>8.1f}×")
    print(f"\ncarga al terminar: {os.getloadavg()}")


if __name__ == "__main__":
    main()
