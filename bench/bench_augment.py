"""Benchmark de aumentación (parte de `make bench`).

1. Imágenes por segundo del mismo pipeline (RandomResizedCrop 224, espejo horizontal, brillo/contraste/saturación,
   normalización; `vpc2.augment.make_pipeline`) sobre una foto real de 512×512 (la astronauta de scikit-image), con un
   hilo, en Albumentations, torchvision v2 y Kornia (de a una imagen y en lotes), medidas en la misma corrida y
   alternando el orden en cada repetición. Con GPU se agrega Kornia en la GPU.
2. Sobrecosto de `AugmentedDataset` frente a llamar directamente al pipeline de Albumentations (objetivo: <= 5 %).

Los tamaños salen del modo (`VPC2_FAST=1` para una corrida corta; con `VPC2_SMOKE=1`, dos repeticiones)."""
import os
import platform
import sys
import time

import albumentations
import kornia
import torch
import torchvision

from vpc2.augment import benchmark_pipelines, make_pipeline, wrapper_overhead
from vpc2.core import max_batches, pick, smoke_size
from vpc2.data import sample_image


def main() -> int:
    t0 = time.perf_counter()
    photo = sample_image("astronaut")
    n_images, repeats, kornia_batch = smoke_size(pick(fast=16, full=128)), max_batches(pick(fast=3, full=7)), pick(fast=8, full=32)
    print(f"Python {platform.python_version()} · torch {torch.__version__} · torchvision {torchvision.__version__} · "
          f"albumentations {albumentations.__version__} · kornia {kornia.__version__} · "
          f"GPU: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no'}")
    print(f"Carga de la máquina (1, 5, 15 min): {os.getloadavg()}")
    print(f"Foto {photo.shape}, salida 3×224×224, 1 hilo, {n_images} imágenes × {repeats} repeticiones alternadas\n")

    rows = benchmark_pipelines(photo, size=224, n_images=n_images, repeats=repeats, kornia_batch=kornia_batch, threads=1)
    print(f"{'variante':>28} | imágenes/s (mediana) | mín–máx        | ÷ Albumentations")
    for r in rows:
        print(f"{r['variante']:>28} | {r['imágenes_por_s']:20.1f} | {min(r['mediciones']):6.1f}–{max(r['mediciones']):6.1f} | "
              f"{r['relativo']:6.2f}×")

    photos = [(sample_image(name), k) for k, name in enumerate(("astronaut", "chelsea", "coffee", "rocket"))] * pick(fast=4, full=32)
    over = wrapper_overhead(photos, make_pipeline("albumentations"), repeats=max_batches(pick(fast=5, full=11)), threads=1)
    verdict = "dentro del objetivo" if over["sobrecosto"] <= 0.05 else "FUERA del objetivo"
    print(f"\nAugmentedDataset ÷ pipeline directo ({len(photos)} fotos): {1 + over['sobrecosto']:.3f} "
          f"({over['envuelto_s'] * 1e3:.3f} ms contra {over['directo_s'] * 1e3:.3f} ms por imagen; sobrecosto "
          f"{over['sobrecosto']:+.1%}, {verdict} de 5 %; mínimo por imagen de {len(over['cocientes'])} repeticiones alternadas).")
    print(f"\n({time.perf_counter() - t0:.0f} s en total)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
