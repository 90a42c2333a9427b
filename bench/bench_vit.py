"""Benchmark del ViT (cuaderno 08): (1) nuestra atención escrita a mano ÷ `F.scaled_dot_product_attention` en CPU,
con las formas del ViT chico, del ViT-Tiny y del ViT-Base; (2) imágenes por segundo del ViT chico y de la ResNet chica
del cuaderno (inferencia y paso de entrenamiento) y la exactitud que alcanza cada uno en los dígitos de scikit-learn
(16×16 grises, 10 clases, como el modo rápido del cuaderno) con el mismo presupuesto de entrenamiento (mismas imágenes,
épocas y `Learner`).

Todos los tiempos de una tabla salen de la misma corrida: rondas intercaladas y mediana, con la cantidad de hilos fija.
Uso: .venv/bin/python bench/bench_vit.py [--threads 1 2] [--repeats 7] [--train-epochs 8] [--clock wall|cpu]"""
import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("VPC2_FAST", "1")   # lotes del modo rápido, CPU

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from vpc2.core import max_batches, num_threads, seed_everything
from vpc2.data import DataLoaders, Digits, image_to_tensor
from vpc2.train import Learner
from vpc2.vit import scaled_dot_product_attention, small_resnet, small_vit

ATTN_SHAPES = {"ViT chico  (B=64, h=4,  N=17,  d=16)": (64, 4, 17, 16),
               "ViT-Tiny   (B=8,  h=3,  N=197, d=64)": (8, 3, 197, 64),
               "ViT-Base   (B=8,  h=12, N=197, d=64)": (8, 12, 197, 64),
               "ViT-Base/8 (B=2,  h=12, N=785, d=64)": (2, 12, 785, 64)}


IMG_SIZE, N_CLASSES = 16, 10   # los dígitos del modo rápido del cuaderno, de 8×8 agrandados a 16×16
# el ViT chico y la ResNet chica del cuaderno (vpc2.vit), para imágenes de 1×16×16; tasas del medio de las candidatas del cuaderno
MODELS = {"ViT": (lambda k: small_vit(k, 1, IMG_SIZE), 2e-3), "ResNet": (lambda k: small_resnet(k, 1), 3e-3)}


def interleaved_medians(fns: dict, repeats: int, clock) -> dict[str, float]:
    "Mediana del tiempo de cada función, alternándolas en cada ronda (comparten las condiciones de la máquina)."
    for fn in fns.values(): fn()   # calentamiento
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = clock(); fn(); times[k].append(clock() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def bench_attention(repeats: int, clock) -> None:
    print(f"{'forma':38s} {'nuestra (ms)':>13s} {'sdpa (ms)':>10s} {'nuestra ÷ sdpa':>15s}")
    with torch.no_grad():
        for label, shape in ATTN_SHAPES.items():
            q, k, v = (torch.randn(shape) for _ in range(3))
            t = interleaved_medians({"ours": lambda: scaled_dot_product_attention(q, k, v),
                                     "sdpa": lambda: F.scaled_dot_product_attention(q, k, v)}, repeats, clock)
            print(f"{label:38s} {1e3 * t['ours']:13.2f} {1e3 * t['sdpa']:10.2f} {t['ours'] / t['sdpa']:15.2f}")


def bench_throughput(repeats: int, clock, batch: int = 64) -> dict[str, dict[str, float]]:
    x, y = torch.rand(batch, 1, IMG_SIZE, IMG_SIZE), torch.randint(0, N_CLASSES, (batch,))
    fns = {}
    for name, (build, _) in MODELS.items():
        seed_everything(0)
        model = build(N_CLASSES)
        opt = torch.optim.AdamW(model.parameters(), 1e-4)
        def infer(model=model):
            model.eval()
            with torch.no_grad(): model(x)
        def train_step(model=model, opt=opt):
            model.train(); opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()
        fns[f"{name} inferencia"], fns[f"{name} entrenamiento"] = infer, train_step
    t = interleaved_medians(fns, repeats, clock)
    return {k: batch / s for k, s in t.items()}


def bench_accuracy(epochs: int) -> dict[str, tuple[float, float]]:
    "Exactitud de validación y segundos de entrenamiento de cada modelo con el mismo presupuesto en los dígitos."
    def materialize(ds):
        xs, ys = zip(*(ds[i] for i in range(len(ds))))
        return TensorDataset(torch.stack(xs), torch.as_tensor(ys))
    digits = [Digits(train=t, size=IMG_SIZE, transform=image_to_tensor) for t in (True, False)]
    dls = DataLoaders.from_datasets(*map(materialize, digits))
    out = {}
    for name, (build, lr) in MODELS.items():
        seed_everything(0)
        learn = Learner(build(N_CLASSES), dls, progress=False, device="cpu")
        t0 = time.perf_counter()
        learn.fit_one_cycle(epochs, lr)
        out[name] = (learn.history["accuracy"][-1], time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Atención a mano ÷ SDPA y ViT chico vs ResNet chica (una sola corrida).")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="hilos de PyTorch: una tabla por valor")
    parser.add_argument("--repeats", type=int, default=7, help="rondas intercaladas (mediana)")
    parser.add_argument("--train-epochs", type=int, default=8, help="épocas de la comparación de exactitud (0: no entrenar)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall: tiempo real; cpu: tiempo de CPU del proceso (útil con --threads 1 en una máquina compartida)")
    args = parser.parse_args()
    args.repeats, args.train_epochs = max_batches(args.repeats), max_batches(args.train_epochs)   # VPC2_SMOKE=1: una corrida de prueba
    clock = time.perf_counter if args.clock == "wall" else time.process_time

    for threads in args.threads:
        with num_threads(threads):
            print(f"\ntorch {torch.__version__} | {platform.processor() or platform.machine()} | {threads} hilo{'s' if threads != 1 else ''} | "
                  f"{args.repeats} rondas intercaladas (mediana) | reloj: {args.clock} | float32, CPU | "
                  f"carga de la máquina {' / '.join(f'{l:.1f}' for l in os.getloadavg())} (1, 5, 15 min)")
            print("\n1) Atención: la nuestra (escrita a mano) ÷ F.scaled_dot_product_attention")
            bench_attention(args.repeats, clock)
            print(f"\n2) Imágenes por segundo, lote de 64 imágenes de 1×{IMG_SIZE}×{IMG_SIZE}")
            ips = bench_throughput(args.repeats, clock)
            for k, v in ips.items(): print(f"   {k:22s} {v:9.0f} img/s")
            for mode in ("inferencia", "entrenamiento"):
                print(f"   ViT ÷ ResNet ({mode}): {ips[f'ViT {mode}'] / ips[f'ResNet {mode}']:.2f}")

    if args.train_epochs > 0:
        with num_threads(max(args.threads)):
            print(f"\n3) Mismo presupuesto: dígitos 1347/450 imágenes de {IMG_SIZE}×{IMG_SIZE}, {args.train_epochs} épocas, Learner con ciclo único "
                  f"({max(args.threads)} hilo{'s' if max(args.threads) != 1 else ''})")
            for name, (acc, secs) in bench_accuracy(args.train_epochs).items():
                print(f"   {name:7s} exactitud de validación {acc:6.1%}   entrenamiento {secs:6.1f} s")


if __name__ == "__main__":
    main()
