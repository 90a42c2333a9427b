"""`Learner(..., accelerator=...)`: dos procesos en CPU (gloo, lanzados con torchrun) con lotes de B terminan con los
mismos pesos e historial que un proceso con lotes de 2B; precisión mixta por Accelerate; errores claros."""
import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vpc2 import core
from vpc2.train import Learner, MixedPrecision

accelerate = pytest.importorskip("accelerate")
from accelerate import Accelerator  # noqa: E402
from accelerate.state import AcceleratorState  # noqa: E402

WORKER = Path(__file__).with_name("accelerate_worker.py")
spec = importlib.util.spec_from_file_location("accelerate_worker", WORKER)
worker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(worker)


pytestmark = pytest.mark.usefixtures("fast_one_thread")


@pytest.fixture
def fresh_accelerate():
    "Accelerate guarda su estado en un objeto único por proceso: cada prueba empieza y termina sin él."
    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_processes(tmp_path: Path, bs: int) -> tuple[dict, str]:
    out = tmp_path/"dos_procesos.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VPC2_FAST": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("VPC2_SMOKE", None)
    if Path("/sys/class/net/lo").exists(): env.setdefault("GLOO_SOCKET_IFNAME", "lo")   # sólo la interfaz local
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(WORKER), "--bs", str(bs), "--out", str(out)]
    for attempt in range(2):   # el puerto libre puede ocuparlo otro proceso entre que lo elegimos y torchrun lo abre
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"torchrun no terminó en 120 s:\n{e.stdout}\n{e.stderr}")
        if done.returncode == 0: break
        if "address already in use" not in done.stderr.lower() or attempt:
            ranks = "\n".join(line for line in done.stderr.splitlines() if line.startswith("[rank"))   # los errores de cada proceso
            Path("/tmp/h03_torchrun_fail.txt").write_text(done.stdout + "\n" + done.stderr)
            pytest.fail(f"torchrun falló ({done.returncode}):\n{done.stdout[-2000:]}\n{ranks[-4000:]}\n{done.stderr[-2000:]}")
        cmd[cmd.index("--master_port") + 1] = str(free_port())
    return torch.load(out, weights_only=True), done.stdout


def test_two_processes_equal_one_process_with_double_batch(tmp_path):
    B = 8
    t0 = time.perf_counter()
    two, stdout = run_two_processes(tmp_path, B)
    seconds = time.perf_counter() - t0
    assert two["processes"] == 2 and "MULTI_CPU" in two["type"]
    one = worker.train(2 * B, epochs=3, lr=3e-2, ckpt=tmp_path/"un_proceso.pt")
    state = one.model.state_dict()
    diff = max((two["state"][k] - v).abs().max().item() for k, v in state.items())
    print(f"dos procesos con torchrun: {seconds:.1f} s; diferencia máxima de pesos con un proceso: {diff:.1e}")
    assert two["state"].keys() == state.keys()
    for k, v in state.items(): torch.testing.assert_close(two["state"][k], v, rtol=1e-5, atol=1e-6)
    h1, h2 = one.history, two["history"]
    assert list(h2) == list(h1) and h2["epoch"] == h1["epoch"] == [1, 2, 3]
    for key in ("train_loss", "valid_loss", "accuracy", "lr"):
        assert h2[key] == pytest.approx(h1[key], rel=1e-5, abs=1e-7), key
    assert h1["train_loss"][-1] < h1["train_loss"][0]                 # aprendió algo: no es una comparación vacía
    preds, targets = one.get_preds()
    assert len(two["targets"]) == worker.N_VALID                      # sin los repetidos que emparejan los procesos
    torch.testing.assert_close(two["targets"], targets)
    torch.testing.assert_close(two["preds"], preds, rtol=1e-4, atol=1e-5)
    assert stdout.count("época 3/3") == 1                             # el resumen lo escribe sólo el proceso principal
    assert not list(tmp_path.glob(".*.tmp"))                          # checkpoints sin temporales


def test_one_process_accelerator_same_as_without(tmp_path, fresh_accelerate):
    "Con un solo proceso, pasar un Accelerator no cambia nada: mismas cuentas que el Learner de siempre."
    plain = worker.train(8, epochs=2, lr=3e-2, ckpt=tmp_path/"a.pt")
    accelerated = worker.train(8, epochs=2, lr=3e-2, ckpt=tmp_path/"b.pt", accelerator=Accelerator(cpu=True))
    assert accelerated.history == plain.history
    for k, v in plain.model.state_dict().items(): assert torch.equal(accelerated.unwrapped_model.state_dict()[k], v)


def test_mixed_precision_through_accelerate(fresh_accelerate):
    accelerator = Accelerator(cpu=True, mixed_precision="bf16")
    train_ds, valid_ds = worker.tiny_data()
    dls = torch.utils.data.DataLoader(train_ds, 16), torch.utils.data.DataLoader(valid_ds, 16)
    model = worker.tiny_model()
    dtypes = []
    model[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    learn = Learner(model, dls, accelerator=accelerator, progress=False)
    learn.fit(1, 1e-2)
    assert set(dtypes) == {torch.bfloat16}                            # la convolución corrió en bfloat16
    assert all(p.dtype == torch.float32 for p in learn.unwrapped_model.parameters())   # los pesos, en float32
    with pytest.raises(ValueError, match="la precisión mixta la hace Accelerate"):
        learn.fit(1, 1e-2, cbs=[MixedPrecision()])


def test_accelerator_errors(fresh_accelerate):
    train_ds, valid_ds = worker.tiny_data()
    dls = torch.utils.data.DataLoader(train_ds, 16), torch.utils.data.DataLoader(valid_ds, 16)
    with pytest.raises(TypeError, match="debe ser un accelerate.Accelerator"):
        Learner(worker.tiny_model(), dls, accelerator="cuda")
    with pytest.raises(ValueError, match="no coincide con el del accelerator"):
        Learner(worker.tiny_model(), dls, device="cuda", accelerator=Accelerator(cpu=True))
