"""Benchmark de segmentación (vpc2.segmentation): tiempo de un paso hacia adelante y atrás por imagen de nuestra U-Net
y de la `smp.Unet` de segmentation-models-pytorch, a 64×64 y 256×256, en CPU.

Las dos redes se miden en la misma corrida y alternadas (en cada ronda, un paso de cada una), y se informa la mediana.
Para comparar redes de tamaño parecido, nuestra U-Net usa `base_channels=32, depth=4` (unos 7.8 M de parámetros) y la
de smp un codificador ResNet-18 (14.3 M) sin pesos preentrenados. El cociente «nuestra ÷ smp» es lo que importa: los
tiempos absolutos dependen de la carga de la máquina, que se imprime al principio y al final.
Uso: .venv/bin/python bench/bench_segmentation.py   (VPC2_FAST=1: menos rondas)
"""
import os
import statistics
import time

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F

from vpc2.core import is_fast, pick
from vpc2.segmentation import UNet

SIZES = (64, 256)
NUM_CLASSES = 6


def step_time(model, x, y) -> float:
    "Segundos de un paso hacia adelante + atrás (entropía cruzada por píxel)."
    t0 = time.perf_counter()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main():
    reps, batch = pick(fast=2, full=7), pick(fast=2, full=4)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} hilos, modo {'rápido' if is_fast() else 'completo'}, "
          f"{reps} rondas, lotes de {batch}; carga de la máquina al empezar: {os.getloadavg()}")
    models = {"nuestra UNet(32, depth=4)": UNet(3, NUM_CLASSES, base_channels=32, depth=4),
              "smp.Unet(resnet18)": smp.Unet("resnet18", encoder_weights=None, classes=NUM_CLASSES)}
    for name, m in models.items():
        print(f"{name}: {sum(p.numel() for p in m.parameters())/1e6:.1f} M parámetros")
    start = time.perf_counter()
    for size in SIZES:
        x, y = torch.randn(batch, 3, size, size), torch.randint(0, NUM_CLASSES, (batch, size, size))
        times = {name: [] for name in models}
        for name, m in models.items(): step_time(m.train(), x, y)          # calentamiento
        for _ in range(reps):
            for name, m in models.items(): times[name].append(step_time(m, x, y))
        per_img = {name: statistics.median(t)/batch*1000 for name, t in times.items()}
        ours, theirs = per_img.values()
        print(f"{size}×{size}: " + " · ".join(f"{n} {v:.1f} ms/imagen" for n, v in per_img.items())
              + f" · nuestra ÷ smp = {ours/theirs:.2f}")
    print(f"\nTiempo total: {time.perf_counter() - start:.1f} s; carga al terminar: {os.getloadavg()}")


if __name__ == "__main__":
    main()
