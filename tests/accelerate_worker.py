"""Un proceso del entrenamiento con Accelerate que lanza `tests/test_accelerate.py` con `torchrun` (no es una prueba:
pytest no lo junta porque el nombre no empieza con `test_`). Entrena el modelo chico con `Learner(..., accelerator=...)`
y el proceso principal guarda pesos, historial y predicciones en `--out`."""
import argparse
import os
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

N_TRAIN, N_VALID, N_CLASSES = 64, 30, 3   # 30 de validación: el último lote no se reparte parejo entre 2 procesos


def tiny_data(seed: int = 0):
    "La clase c hace más brillante el canal c: se aprende en pocas épocas. Sin barajar."
    g = torch.Generator().manual_seed(seed)
    n = N_TRAIN + N_VALID
    y = torch.randint(0, N_CLASSES, (n,), generator=g)
    x = 0.5 * torch.randn(n, 3, 8, 8, generator=g)
    x[torch.arange(n), y] += 0.3
    return TensorDataset(x[:N_TRAIN], y[:N_TRAIN]), TensorDataset(x[N_TRAIN:], y[N_TRAIN:])


def tiny_model() -> nn.Module:
    "Sin BatchNorm: sus estadísticas dependen del lote de cada proceso y romperían la igualdad con un solo proceso."
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, N_CLASSES))


def train(bs: int, epochs: int, lr: float, ckpt: Path, accelerator=None):
    "El mismo entrenamiento con o sin Accelerate: ciclo único, mejores pesos guardados y restaurados, barra con resumen."
    from vpc2.core import seed_everything
    from vpc2.train import Learner, OneCycleSchedule, SaveBestModel
    seed_everything(0)
    train_ds, valid_ds = tiny_data()
    dls = DataLoader(train_ds, bs), DataLoader(valid_ds, bs)
    learn = Learner(tiny_model(), dls, device=None if accelerator else "cpu", accelerator=accelerator,
                    cbs=[SaveBestModel(ckpt)])
    learn.fit(epochs, lr, cbs=[OneCycleSchedule()])
    return learn


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bs", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from accelerate import Accelerator
    from vpc2.core import set_mode
    set_mode("fast")
    accelerator = Accelerator(cpu=True)
    learn = train(args.bs, args.epochs, args.lr, args.out.with_suffix(".best.pt"), accelerator)
    preds, targets = learn.get_preds()
    if accelerator.is_main_process:
        torch.save({"state": learn.unwrapped_model.state_dict(), "history": learn.history, "preds": preds,
                    "targets": targets, "processes": accelerator.num_processes,
                    "type": str(accelerator.distributed_type)}, args.out)
    accelerator.wait_for_everyone()
    # cerrar el grupo antes de salir: sin esto, el destructor de gloo a veces aborta un proceso (SIGABRT) al terminar
    if torch.distributed.is_initialized(): torch.distributed.destroy_process_group()
    print(f"proceso {accelerator.process_index} de {accelerator.num_processes}: listo", file=sys.stderr)


if __name__ == "__main__":
    main()
