"""Benchmark de la convolución 2D: lazos de Python, `conv2d_unfold` (im2col de la clase), `conv2d_im2col`
(vista sin copias + multiplicaciones por bloques) y `F.conv2d`, sobre las tres formas del enunciado.

Todos los tiempos salen de la misma corrida: rondas intercaladas y mediana, con la cantidad de hilos fija.
Los lazos se miden sobre unos pocos pares (imagen, filtro) y se extrapolan (la tabla lo marca con *).
Uso: .venv/bin/python bench/bench_conv.py [--threads 1 2] [--repeats 9] [--naive-pairs 2] [--clock wall|cpu]"""
import argparse
import os
import platform
import time

import torch

from vpc2.conv import benchmark_conv, format_benchmark
from vpc2.core import max_batches, pick

SHAPES = [((64, 3, 32, 32), (16, 3, 3, 3)),
          ((32, 64, 32, 32), (64, 64, 3, 3)),
          ((8, 128, 56, 56), (128, 128, 3, 3))]
GOAL = 2.0   # conv2d_im2col a menos de 2× de F.conv2d en las formas grandes


def main() -> None:
    parser = argparse.ArgumentParser(description="Lazos vs im2col vs F.conv2d (cocientes en una sola corrida).")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="hilos de PyTorch: una tabla por valor, fijo durante toda esa medición")
    parser.add_argument("--repeats", type=int, default=max_batches(pick(fast=5, full=9)),
                        help="rondas intercaladas por forma (en humo, VPC2_SMOKE=1: 2)")
    parser.add_argument("--naive-pairs", type=int, default=2, help="pares (imagen, filtro) medidos con los lazos")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall: tiempo real (por defecto); cpu: tiempo de CPU del proceso, útil con --threads 1 "
                             "en una máquina compartida (con más hilos suma el de todos)")
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"carga de la máquina (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())} · {os.cpu_count()} núcleos")

    for threads in args.threads:
        print(f"\ntorch {torch.__version__} | {platform.processor() or platform.machine()} | {threads} hilo{'s' if threads != 1 else ''} | "
              f"{args.repeats} rondas intercaladas (mediana) | reloj: {args.clock} | padding=1, stride=1, float32, CPU")
        rows = benchmark_conv(SHAPES, padding=1, repeats=args.repeats, naive_pairs=args.naive_pairs, threads=threads,
                              clock=clock)
        print(format_benchmark(rows))
        for r in rows[1:]:
            verdict = "cumple" if r["im2col_ratio"] <= GOAL else "NO cumple"
            print(f"objetivo conv2d_im2col ≤ {GOAL:.0f}× F.conv2d en {r['x']} ⊛ {r['w']}: {r['im2col_ratio']:.2f}× → {verdict}")


if __name__ == "__main__":
    main()
