"Fixtures compartidas por las pruebas."
import pytest
import torch

from vpc2 import core


@pytest.fixture(autouse=True)
def no_smoke_from_environment(monkeypatch):
    "Las pruebas de la biblioteca fijan su propio modo: una `VPC2_SMOKE=1` que venga del entorno no las corta."
    monkeypatch.delenv("VPC2_SMOKE", raising=False)


@pytest.fixture
def one_thread():
    "Redes y tensores diminutos: un hilo es igual de rápido y no compite con otros procesos por los 2 núcleos."
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def fast_one_thread():
    "Modo rápido (CPU, sin barras) y un solo hilo, como en los cuadernos bajo prueba; al terminar, el modo y los hilos de antes."
    core.set_mode("fast")
    with core.num_threads(1): yield
    core.set_mode(None)
