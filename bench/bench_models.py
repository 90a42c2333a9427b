"""Benchmark de arquitecturas (vpc2.models): parámetros, MACs y latencia en CPU por imagen a 64×64 y 224×224.

Todo se mide en una sola corrida y lado a lado: en cada ronda pasa una imagen por cada modelo (los nuestros y los de
torchvision, intercalados), y se informa la mediana. Dos cocientes:
  - «÷ ResNet-18»: latencia de cada arquitectura relativa a ResNet-18 a ese tamaño;
  - «nuestra ÷ torchvision»: nuestra implementación contra la de torchvision (debería dar ≈ 1).
Además, a 32×32, el costo del tallo para imágenes chicas (`small_input=True`) contra el de ImageNet en cada arquitectura:
  «chico ÷ ImageNet»: cuántas veces más MACs y latencia cuesta no achicar la imagen al principio.
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
    stems, small_models = [], {}
    stem_names = [n for n in NAMES if n not in ("lenet5", "alexnet")]   # LeNet-5 no tiene otro tallo; AlexNet de ImageNet pide ≥ 63 px
    for name in stem_names:
        for small in (False, True):
            small_models[name, small] = create_model(name, width_mult=0.25, small_input=small)
    latency = measure_latency({f"{n}:{s}": m for (n, s), m in small_models.items()}, size=32, reps=reps, warmup=1)
    for name in stem_names:
        macs = {s: count_macs(small_models[name, s], (1, 3, 32, 32)) for s in (False, True)}
        stems.append({"modelo": name, "MMACs ImageNet (32)": macs[False] / 1e6, "MMACs chico (32)": macs[True] / 1e6,
                      "MACs chico ÷ ImageNet": macs[True] / macs[False],
                      "latencia chico ÷ ImageNet": latency[f"{name}:True"] / latency[f"{name}:False"]})
    print("\nTallo para imágenes chicas a 32×32 (width_mult=0.25):")
    print(markdown_table(stems))
    print(f"\nTiempo total: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
