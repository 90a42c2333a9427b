"""Benchmark de arquitecturas (vpc2.models): parámetros, MACs y latencia en CPU por imagen a 64×64 y 224×224.

Todo se mide en una sola corrida y lado a lado: en cada ronda pasa una imagen por cada modelo (los nuestros y los de
torchvision, intercalados), y se informa la mediana. Dos cocientes:
  - «÷ ResNet-18»: latencia de cada arquitectura relativa a ResNet-18 a ese tamaño;
  - «nuestra ÷ torchvision»: nuestra implementación contra la de torchvision (debería dar ≈ 1).
Uso: .venv/bin/python bench/bench_models.py   (VPC2_FAST=1: menos rondas)
"""
import os
import time

import torch
import torchvision

from vpc2.core import is_fast, max_batches, pick
from vpc2.models import count_macs, count_params, create_model, markdown_table, measure_latency, on_meta

NAMES = ["lenet5", "alexnet", "vgg16", "googlenet", "resnet18", "resnet50", "efficientnet_b0"]
SIZES = (64, 224)


def build_pair(name: str):
    "Nuestra red y la de torchvision (sin pesos preentrenados), o sólo la nuestra para LeNet-5."
    kwargs = dict(in_channels=3) if name == "lenet5" else {}
    ours = create_model(name, **kwargs)
    if name == "lenet5": return ours, None
    tv_kwargs = dict(aux_logits=False, init_weights=False) if name == "googlenet" else {}   # los valores no cambian la latencia
    return ours, torchvision.models.get_model(name, weights=None, **tv_kwargs)


def main():
    reps = max_batches(pick(fast=3, full=15))   # en humo (VPC2_SMOKE=1), 2 rondas
    torch.manual_seed(0)
    start = time.perf_counter()
    print(f"carga de la máquina (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())} · {os.cpu_count()} núcleos")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} hilos, modo {'rápido' if is_fast() else 'completo'}, "
          f"{reps} rondas por tamaño")
    models, rows = {}, []
    for name in NAMES:
        ours, theirs = build_pair(name)
        models[name] = ours
        if theirs is not None: models[f"tv:{name}"] = theirs
        meta = on_meta(create_model, name, **(dict(in_channels=3) if name == "lenet5" else {}))
        rows.append({"modelo": name, "parámetros": count_params(meta),
                     **{f"GMACs {s}": count_macs(meta, (1, 3, s, s)) / 1e9 for s in SIZES}})
    for s in SIZES:
        latency = measure_latency(models, size=s, reps=reps, warmup=1)
        ref = latency["resnet18"]
        for row in rows:
            name = row["modelo"]
            row[f"ms {s}"] = latency[name] * 1000
            row[f"÷ ResNet-18 ({s})"] = latency[name] / ref
            row[f"nuestra ÷ torchvision ({s})"] = latency[name] / latency[f"tv:{name}"] if f"tv:{name}" in latency else float("nan")
    print(markdown_table(rows))
    print(f"\nTiempo total: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
