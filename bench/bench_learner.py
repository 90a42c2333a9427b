"""Benchmark: segundos por época del `Learner` ÷ un bucle mínimo escrito a mano.

Mismo modelo (misma inicialización), mismos datos, mismo orden de lotes y mismo optimizador: las dos versiones hacen
exactamente las mismas cuentas (se comprueba que las pérdidas coincidan), así que el cociente mide sólo lo que agrega el
`Learner` (despacho de eventos, barra de progreso, métricas de torchmetrics, controles). Se informan dos cocientes: el de
reloj y el de tiempo de CPU del proceso; en una máquina compartida y cargada (mirá la carga que se imprime) el de reloj
mide sobre todo la espera por los núcleos, y el de CPU es el que dice cuánto trabajo agrega el `Learner`. Las mediciones se alternan
(A B, B A, …) en una sola corrida para que los cambios de carga de la máquina afecten a las dos por igual.
Por defecto usa un hilo de PyTorch: en una máquina compartida, dos hilos de OpenMP compitiendo con otros procesos
vuelven los tiempos erráticos (medimos variaciones de 10×), y lo que agrega el `Learner` es trabajo de Python por lote,
que no depende de los hilos. `--hilos N` mide con N hilos (con más hilos el cómputo es más rápido y el cociente sube).
Uso: .venv/bin/python bench/bench_learner.py [--hilos N]   (VPC2_FAST=1 para una versión corta; VPC2_SMOKE=1, dos lotes y dos rondas)
"""
import argparse
import io
import os
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vpc2.core import limit_batches, max_batches, pick, seed_everything
from vpc2.data import Figuras, image_to_tensor
from vpc2.train import Learner, ProgressBar, simple_cnn

LR = 1e-3


def render(n: int, size: int, offset: int = 0) -> TensorDataset:
    "Figuras dibujadas una sola vez: así la carga de datos cuesta lo mismo (casi nada) en las dos versiones."
    ds = Figuras(n, size, seed=0, offset=offset, transform=image_to_tensor)
    xs, ys = zip(*(ds[i] for i in range(n)))
    return TensorDataset(torch.stack(xs), torch.tensor(ys))


def loaders(train_ds, valid_ds, bs: int, seed: int):
    g = torch.Generator().manual_seed(seed)   # mismo orden de lotes en las dos versiones
    return DataLoader(train_ds, bs, shuffle=True, generator=g), DataLoader(valid_ds, bs)


def hand_fit(model, train_dl, valid_dl, epochs: int) -> list[float]:
    "El bucle mínimo: entrenamiento + validación con pérdida y exactitud, como `train_model`."
    opt, loss_func, losses = torch.optim.AdamW(model.parameters(), lr=LR), nn.CrossEntropyLoss(), []
    for _ in range(epochs):
        model.train()
        total, n = 0.0, 0
        for xb, yb in limit_batches(train_dl):   # como el Learner: en humo, dos lotes
            loss = loss_func(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            total += loss.item() * len(xb)
            n += len(xb)
        model.eval()
        vloss, correct, nv = 0.0, 0, 0
        with torch.no_grad():
            for xb, yb in limit_batches(valid_dl):
                out = model(xb)
                vloss += loss_func(out, yb).item() * len(xb)
                correct += (out.argmax(1) == yb).sum().item()
                nv += len(xb)
        losses.append(total / n)
    return losses


def learner_fit(model, train_dl, valid_dl, epochs: int) -> list[float]:
    "El `Learner` tal como se usa: barra de progreso (escrita a un buffer), exactitud de torchmetrics, controles."
    bar = ProgressBar(bars=True, file=io.StringIO())
    learn = Learner(model, (train_dl, valid_dl), cbs=[bar], progress=False, device="cpu")
    learn.fit(epochs, LR)
    return learn.history["train_loss"]


def measure(name: str, channels, size: int, n_train: int, n_valid: int, bs: int, reps: int, epochs: int) -> float:
    "Mide las dos versiones alternadas `reps` veces; imprime segundos por época y el cociente Learner ÷ a mano."
    train_ds, valid_ds = render(n_train, size), render(n_valid, size, offset=n_train)
    runs = {"a mano": hand_fit, "Learner": learner_fit}
    wall, cpu = {k: [] for k in runs}, {k: [] for k in runs}
    for rep in range(reps):
        order = list(runs) if rep % 2 == 0 else list(runs)[::-1]   # A B, B A, …
        losses = {}
        for key in order:
            seed_everything(rep)
            model = simple_cnn(5, channels=channels, global_pool="max")   # misma semilla → mismos pesos iniciales
            train_dl, valid_dl = loaders(train_ds, valid_ds, bs, seed=rep)
            w0, c0 = time.perf_counter(), time.process_time()
            losses[key] = runs[key](model, train_dl, valid_dl, epochs)
            wall[key].append((time.perf_counter() - w0) / epochs)
            cpu[key].append((time.process_time() - c0) / epochs)
        assert losses["a mano"] == losses["Learner"], f"las pérdidas no coinciden: {losses}"
    ratios = [l / h for l, h in zip(wall["Learner"], wall["a mano"])]
    n_batches = max_batches(len(train_dl)) + max_batches(len(valid_dl))
    extra_us = (statistics.median(wall["Learner"]) - statistics.median(wall["a mano"])) / n_batches * 1e6
    print(f"{name}: simple_cnn(channels={tuple(channels)}), {n_train} imágenes {size}×{size}, lotes de {bs}, "
          f"{reps} repeticiones alternadas × {epochs} épocas, {torch.get_num_threads()} hilos de PyTorch")
    for key in runs:
        print(f"  {key:8s} s/época (reloj): mediana {statistics.median(wall[key]):.3f}  "
              f"mín {min(wall[key]):.3f}  máx {max(wall[key]):.3f}   ·  CPU del proceso: {statistics.median(cpu[key]):.3f}")
    print("  las dos versiones dieron exactamente las mismas pérdidas: sí")
    print(f"  Learner ÷ a mano (reloj): mediana {statistics.median(ratios):.3f}  "
          f"[{', '.join(f'{r:.2f}' for r in ratios)}]  ·  mín ÷ mín {min(wall['Learner']) / min(wall['a mano']):.3f}"
          f"  ·  CPU: {sum(cpu['Learner']) / sum(cpu['a mano']):.3f}")
    print(f"  diferencia por lote (medianas): {extra_us:+.0f} µs")
    return statistics.median(ratios), sum(cpu["Learner"]) / sum(cpu["a mano"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hilos", type=int, default=1, help="hilos de PyTorch (por defecto 1)")
    torch.set_num_threads(parser.parse_args().hilos)
    print(f"carga de la máquina (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())} · {os.cpu_count()} núcleos")
    t0 = time.perf_counter()
    wall_ratio, cpu_ratio = measure("CNN del cuaderno (la de modo completo)", channels=(16, 32, 64, 128), size=32, n_train=pick(fast=256, full=1024), n_valid=256,
            bs=32, reps=max_batches(pick(fast=3, full=6)), epochs=2)
    measure("CNN mínima (peor caso: casi todo es sobrecosto)", channels=(8,), size=16,
            n_train=pick(fast=256, full=2048), n_valid=256, bs=32, reps=max_batches(pick(fast=3, full=8)), epochs=2)
    verdict = "cumple" if cpu_ratio <= 1.05 else "NO cumple"
    print(f"objetivo: Learner ÷ a mano ≤ 1.05 en la CNN del cuaderno: {verdict} (CPU {cpu_ratio:.3f}, reloj {wall_ratio:.3f})"
          f" · carga al terminar: {', '.join(f'{x:.1f}' for x in os.getloadavg())} · tiempo total {time.perf_counter() - t0:.0f} s")
