"Pruebas de vpc2.core: modo, semillas, caché y detección de red sin conexión."
import os
import socket

import numpy as np
import pytest
import torch

from vpc2 import core


@pytest.fixture(autouse=True)
def clean_mode(monkeypatch):
    "Cada prueba empieza sin modo forzado y sin las variables que lo deciden."
    for var in ("IN_TEST", "CI", "VPC2_FAST", "VPC2_MODE", "VPC2_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    core.set_mode(None)
    core._probe_network.cache_clear()
    yield
    core.set_mode(None)
    core._probe_network.cache_clear()


def test_full_by_default():
    assert core.run_mode() == "full"


@pytest.mark.parametrize("var", ["IN_TEST", "CI", "VPC2_FAST"])
def test_fast_vars(monkeypatch, var):
    monkeypatch.setenv(var, "1")
    assert core.is_fast()


@pytest.mark.parametrize("value", ["0", "false", ""])
def test_false_values_do_not_turn_fast(monkeypatch, value):
    monkeypatch.setenv("VPC2_FAST", value)
    assert core.run_mode() == "full"


def test_vpc2_mode_wins(monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("VPC2_MODE", "full")
    assert core.run_mode() == "full"


def test_set_mode_overrides_environment(monkeypatch):
    monkeypatch.setenv("CI", "true")
    core.set_mode("full")
    assert core.pick(fast=1, full=10) == 10
    core.set_mode(None)
    assert core.pick(fast=1, full=10) == 1


def test_bad_mode_has_spanish_error(monkeypatch):
    monkeypatch.setenv("VPC2_MODE", "turbo")
    with pytest.raises(ValueError, match="Modo desconocido"):
        core.run_mode()


def test_device_is_cpu_in_fast_mode(monkeypatch):
    monkeypatch.setenv("VPC2_FAST", "1")
    assert core.get_device() == torch.device("cpu")


def test_seed_reproducible_across_libraries():
    def draw():
        import random
        return random.random(), float(np.random.rand()), torch.randn(4)
    core.seed_everything(7); a = draw()
    core.seed_everything(7); b = draw()
    assert a[:2] == b[:2]
    torch.testing.assert_close(a[2], b[2])
    core.seed_everything(8); c = draw()
    assert not torch.equal(a[2], c[2])


def test_seed_same_model_init():
    core.seed_everything(3); w1 = torch.nn.Linear(5, 3).weight.detach().clone()
    core.seed_everything(3); w2 = torch.nn.Linear(5, 3).weight.detach().clone()
    torch.testing.assert_close(w1, w2)


@pytest.mark.parametrize("bad", [-1, 1.5, "42", True])
def test_bad_seed(bad):
    with pytest.raises(ValueError, match="entero no negativo"):
        core.seed_everything(bad)


def test_cache_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("VPC2_CACHE", str(tmp_path/"c"))
    p = core.cache_dir("datos")
    assert p == tmp_path/"c"/"datos" and p.is_dir()


def test_cache_dir_default_under_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("VPC2_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert core.cache_dir() == tmp_path/"vpc2"


def test_cache_dir_not_writable(tmp_path, monkeypatch):
    blocker = tmp_path/"archivo"
    blocker.write_text("no soy una carpeta")
    monkeypatch.setenv("VPC2_CACHE", str(blocker))
    with pytest.raises(OSError, match="VPC2_CACHE"):
        core.cache_dir("x")


def test_offline_env_forces_no_network(monkeypatch):
    monkeypatch.setenv("VPC2_OFFLINE", "1")
    assert core.has_network() is False


def closed_port() -> int:
    "Un puerto local en el que nadie escucha."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_network_probe_with_network_absent(monkeypatch):
    monkeypatch.setattr(core, "_NETWORK_PROBES", (("127.0.0.1", closed_port()),))
    assert core.has_network(timeout=0.5) is False


def test_network_probe_sees_a_listening_server(monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0)); server.listen()
        monkeypatch.setattr(core, "_NETWORK_PROBES", (("127.0.0.1", server.getsockname()[1]),))
        assert core.has_network(timeout=0.5) is True


def test_setup_offline_sets_hub_variables(monkeypatch):
    for var in core.OFFLINE_VARS: monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VPC2_OFFLINE", "1")
    assert core.setup_offline() is True
    assert all(os.environ[v] == "1" for v in core.OFFLINE_VARS)


def test_setup_offline_keeps_hub_online_with_network(monkeypatch):
    for var in core.OFFLINE_VARS: monkeypatch.delenv(var, raising=False)
    assert core.setup_offline(force=False) is False
    assert "HF_HUB_OFFLINE" not in os.environ


def test_environment_detection(monkeypatch):
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    monkeypatch.setenv("CI", "true")
    assert core.in_kaggle() and core.in_ci() and not core.in_colab()


def test_offline_hub_fails_fast_instead_of_retrying(tmp_path):
    "Sin red, timm reintenta ~45 s; tras setup_offline falla enseguida (aquí, forzado con VPC2_OFFLINE)."
    import subprocess, sys
    script = (
        "import time, timm\n"
        "from vpc2.core import setup_offline\n"
        "assert setup_offline()\n"
        "t = time.perf_counter()\n"
        "try:\n"
        "    timm.create_model('resnet18', pretrained=True)\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, round(time.perf_counter() - t, 2))\n"
        "else:\n"
        "    print('cargado')\n")
    env = {**os.environ, "VPC2_OFFLINE": "1", "HF_HOME": str(tmp_path/"hf")}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    name, seconds = out.stdout.split()[-2:]
    assert name.endswith("NotFoundError"), out.stdout + out.stderr
    assert float(seconds) < 5, f"tardó {seconds} s en fallar: el modo sin conexión no se activó"


def test_environment_keys_are_spanish():
    "Las claves del resumen del entorno están en castellano, como el resto de los resultados del curso."
    env = core.environment()
    assert {"modo", "dispositivo", "red", "caché", "python", "torch", "cuda"} <= set(env)
    assert not {"mode", "device", "network", "cache"} & set(env)


def _shuffled(n, seed):
    "range(n) mezclado con random (seed=None: con la semilla del sistema, distinta en cada llamada)."
    import random
    r = list(range(n)); random.Random(seed).shuffle(r)
    return r

def _split_of(perm):
    return lambda n, nv, nt: {"test": perm[:nt], "valid": perm[nt:nt + nv], "train": perm[nt + nv:]}


@pytest.mark.parametrize("label, wrong", [
    ("0.1", lambda n, seed: list(range(n))),                                                    # sin mezclar
    ("0.1", lambda n, seed: torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1)).tolist()),   # otra semilla
    ("0.1", lambda n, seed: (torch.manual_seed(seed), torch.randperm(n).tolist())[1]),      # toca la semilla global
    ("0.2", lambda n, nv, nt, seed=0: {"train": list(range(n - nv - nt)), "valid": list(range(n - nv - nt, n - nt)),
                                      "test": list(range(n - nt, n))}),                       # sin mezclar
    ("0.2", lambda n, nv, nt, seed=0: {"train": list(range(n)), "valid": list(range(nv)), "test": list(range(nt))}),   # solapados
    ("0.2", lambda n, nv, nt, seed=0: {"test": list(range(nt)), "valid": list(range(nt, nt + nv)),
                                      "train": list(range(nt + nv, n))}),                     # sin mezclar, la prueba primero
    ("0.2", lambda n, nv, nt, seed=0: _split_of(_shuffled(n, 0))(n, nv, nt)),                  # ignora la semilla
    ("0.2", lambda n, nv, nt, seed=0: _split_of(_shuffled(n, None))(n, nv, nt)),               # no es reproducible
    ("0.3", lambda model, trainable_only=True: sum(p.numel() for p in model.parameters())),    # cuenta los congelados
    ("0.3", lambda model, trainable_only=True: len(list(model.parameters()))),                  # tensores, no números
])
def test_exercises_reject_wrong_answers(label, wrong):
    import vpc2.core  # noqa: F401  (registra los ejercicios 0.x)
    from vpc2.ejercicios import run_exercise
    r = run_exercise(label, wrong)
    assert not r.passed and "caso" in r.message


def test_exercises_accept_reference_solutions():
    from vpc2.ejercicios import run_exercise
    n_params = lambda model, trainable_only=True: sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
    perm = lambda n, seed: torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    def split(n, nv, nt, seed=0):
        p = perm(n, seed)
        return {"test": p[:nt], "valid": p[nt:nt + nv], "train": p[nt + nv:]}
    for label, fn in (("0.1", perm), ("0.2", split), ("0.3", n_params)):
        assert run_exercise(label, fn).passed, label


def test_pick_size_and_workers_follow_mode_and_smoke(monkeypatch):
    monkeypatch.delenv("VPC2_SMOKE", raising=False)
    core.set_mode("fast")
    try:
        assert core.pick_size(fast=512, full=5000) == 512 and core.pick_workers(full=4) == 0
        core.set_mode("full")
        assert core.pick_size(fast=512, full=5000) == 5000 and core.pick_workers(full=4) == 4
        monkeypatch.setenv("VPC2_SMOKE", "1")
        assert core.pick_size(fast=512, full=5000) == core.SMOKE_ITEMS and core.pick_workers(full=4) == 0
    finally:
        core.set_mode(None)


@pytest.mark.parametrize("first", ["vpc2.core", "vpc2.data"])
def test_exercises_registered_when_core_is_imported_first(first):
    "Importar vpc2.core (o un módulo que lo importa) antes que vpc2.ejercicios registra los ejercicios 0.x."
    import subprocess, sys
    code = f"import {first}; from vpc2.ejercicios import get_exercise; print(get_exercise('0.3').label)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "0.3", out.stderr[-500:]
