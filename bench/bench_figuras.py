"""Velocidad de generación de Figuras frente a un paso de entrenamiento (un solo hilo).

Uso: .venv/bin/python bench/bench_figuras.py   (tarda menos de un minuto)

Mide imágenes por segundo de Figuras a 64×64 y 224×224 para las tres tareas, en un hilo, con reloj de pared y
con tiempo de CPU del proceso (el segundo es más estable en una máquina compartida), y lo compara con lo que
tarda un paso de entrenamiento del mismo lote: si generar un lote cuesta menos que entrenarlo, la generación no
es el cuello de botella (y con num_workers > 0 se genera en paralelo al entrenamiento)."""
import os
import time

import torch
import torch.nn.functional as F

from vpc2.core import max_batches, num_threads, smoke_size
from vpc2.data import Figuras, image_to_tensor
from vpc2.train import simple_cnn


def rate(ds, n):
    "Imágenes por segundo (pared, CPU) al pedir los primeros n elementos."
    ds[0]
    w, c = time.perf_counter(), time.process_time()
    for i in range(n): ds[i]
    return n/(time.perf_counter() - w), n/(time.process_time() - c)


def step_seconds(model, size, batch, reps=max_batches(3)):
    "Segundos de CPU por paso de entrenamiento (adelante, atrás, optimizador) con un lote de `batch` imágenes."
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.rand(batch, 3, size, size), torch.randint(0, 5, (batch,))
    def step():
        loss = F.cross_entropy(model(x), y); opt.zero_grad(); loss.backward(); opt.step()
    step()
    c = time.process_time()
    for _ in range(reps): step()
    return (time.process_time() - c)/reps


def main():
    print(f"Carga de la máquina (1, 5, 15 min): {os.getloadavg()}")
    print("Figuras: imágenes por segundo en un hilo (pared | CPU)")
    cpu_rate = {}
    for size, n in ((64, smoke_size(400)), (224, smoke_size(80))):   # VPC2_SMOKE=1: una corrida de prueba
        for task in ("classification", "detection", "segmentation"):
            wall, cpu = rate(Figuras(n, size, task=task, transform=image_to_tensor if task == "classification" else None), n)
            cpu_rate[size, task] = cpu
            print(f"  {size:3d}×{size:<3d} {task:15s} {wall:7.0f} | {cpu:7.0f} img/s")
    from torchvision.models import resnet18
    batch = 64
    print(f"\nUn paso de entrenamiento en CPU, un hilo (tiempo de CPU; lote de {batch}, 16 para ResNet-18):")
    for name, model, size in (("simple_cnn (3 bloques)", simple_cnn(5, (16, 32, 64)), 64), ("ResNet-18", resnet18(num_classes=5), 224)):
        bs = batch if size == 64 else 16
        t_step = step_seconds(model, size, bs)
        t_gen = bs/cpu_rate[size, "classification"]
        print(f"  {name:22s} {size}×{size}: paso {t_step*1000:7.1f} ms | generar el lote {t_gen*1000:6.1f} ms | "
              f"generar ÷ entrenar = {t_gen/t_step:.2f}  (lote de {bs})")


if __name__ == "__main__":
    with num_threads(1):
        main()
