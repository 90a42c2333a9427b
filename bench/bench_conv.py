"""Benchmark de la convolución 2D: lazos de Python, `conv2d_unfold` (im2col de la clase), `conv2d_im2col`
(vista sin copias + multiplicaciones por bloques según los hilos) y `F.conv2d`, sobre las tres formas del enunciado.

Todos los tiempos salen de la misma corrida: rondas intercaladas (funciones y cantidades de hilos) y mediana.
Los cocientes son contra `F.conv2d` con la misma cantidad de hilos. Imprime la carga de la máquina antes y después.
Los lazos se miden sobre unos pocos pares (imagen, filtro) y se extrapolan (la tabla lo marca con *).
Objetivo: `conv2d_im2col` ≤ 1,5× `F.conv2d` con cada cantidad de hilos en las dos formas grandes, y el cociente con
más hilos a lo sumo 1,3 veces el de un hilo. Dice "cumple" o "NO cumple"; no hay asserts de tiempo.
Uso: .venv/bin/python bench/bench_conv.py [--threads 1 2] [--repeats 9] [--naive-pairs 2] [--clock wall|cpu]"""
import argparse
import os
import platform
import time

import torch

from vpc2.conv import benchmark_conv, format_benchmark, im2col_goal
from vpc2.core import max_batches, pick

SHAPES = [((64, 3, 32, 32), (16, 3, 3, 3)),
          ((32, 64, 32, 32), (64, 64, 3, 3)),
          ((8, 128, 56, 56), (128, 128, 3, 3))]
GOAL, DEGRADE = 1.5, 1.3


def main() -> None:
    parser = argparse.ArgumentParser(description="Lazos vs im2col vs F.conv2d (cocientes en una sola corrida).")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="cantidades de hilos de PyTorch, intercaladas en las mismas rondas")
    parser.add_argument("--repeats", type=int, default=max_batches(pick(fast=7, full=9)),
                        help="rondas intercaladas por forma (en humo, VPC2_SMOKE=1: 2)")
    parser.add_argument("--naive-pairs", type=int, default=2, help="pares (imagen, filtro) medidos con los lazos")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall: tiempo real (por defecto); cpu: tiempo de CPU del proceso (con más de un hilo suma "
                             "el de todos, incluidas las esperas activas)")
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"carga de la máquina al empezar (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())} · "
          f"{os.cpu_count()} núcleos")
    print(f"torch {torch.__version__} | {platform.processor() or platform.machine()} | hilos {args.threads} | "
          f"{args.repeats} rondas intercaladas (mediana) | reloj: {args.clock} | padding=1, stride=1, float32, CPU\n")
    rows = benchmark_conv(SHAPES, padding=1, repeats=args.repeats, naive_pairs=args.naive_pairs,
                          threads=args.threads, clock=clock)
    print(format_benchmark(rows))
    print()
    big = [r for r in rows if (r["entrada"], r["pesos"]) != ("×".join(map(str, SHAPES[0][0])), "×".join(map(str, SHAPES[0][1])))]
    for line, _ in im2col_goal(big, goal=GOAL, degrade=DEGRADE):
        print(line)
    print(f"carga de la máquina al terminar (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
