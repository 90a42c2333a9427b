"La corrida de humo del modo completo: qué se corta (bucles, conjuntos), qué no se exige (aprender) y el aviso de tiempo en CPU."
import io

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vpc2 import core
from vpc2.core import SMOKE_BATCHES, SMOKE_ITEMS, check_learning, limit_batches, max_batches, smoke_size
from vpc2.train import Callback, Learner, ProgressBar, lr_find


@pytest.fixture
def smoke(monkeypatch, one_thread):
    monkeypatch.setenv("VPC2_SMOKE", "1")
    core.set_mode("full")
    yield
    core.set_mode(None)


@pytest.fixture
def no_smoke(monkeypatch, one_thread):
    monkeypatch.delenv("VPC2_SMOKE", raising=False)
    yield


def loaders(n_train=320, n_valid=96, bs=16):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n_train + n_valid, 4, generator=g), torch.randint(0, 3, (n_train + n_valid,), generator=g)
    return (DataLoader(TensorDataset(x[:n_train], y[:n_train]), bs, shuffle=True),
            DataLoader(TensorDataset(x[n_train:], y[n_train:]), bs))


class CountBatches(Callback):
    def before_fit(self): self.train, self.valid = 0, 0
    def after_batch(self):
        if self.learn.training: self.train += 1
        else: self.valid += 1


def test_helpers_outside_smoke(no_smoke):
    assert not core.is_smoke()
    assert max_batches() is None and max_batches(7) == 7
    assert list(limit_batches(range(5))) == [0, 1, 2, 3, 4]
    assert smoke_size(5000) == 5000


def test_helpers_in_smoke(smoke):
    assert core.is_smoke()
    assert max_batches() == SMOKE_BATCHES and max_batches(1) == 1 and max_batches(100) == SMOKE_BATCHES
    assert list(limit_batches(iter(range(100)))) == list(range(SMOKE_BATCHES))
    assert smoke_size(5000) == SMOKE_ITEMS and smoke_size(10) == 10


def test_learner_caps_every_loop_in_smoke(smoke):
    count = CountBatches()
    learn = Learner(nn.Linear(4, 3), loaders(), cbs=[count], progress=False)
    assert learn.train_batches == SMOKE_BATCHES
    learn.fit_one_cycle(3, 1e-2)                    # one-cycle cuenta sólo los pasos que se dan
    assert (count.train, count.valid) == (3*SMOKE_BATCHES, 3*SMOKE_BATCHES)
    assert len(learn.history["epoch"]) == 3        # las épocas pedidas se hacen todas, cortas
    preds, targets = learn.get_preds()
    assert len(preds) == len(targets) == SMOKE_BATCHES*16
    result = lr_find(learn, show_plot=False)
    assert len(result.lrs) <= 5


def test_learner_runs_every_batch_outside_smoke(no_smoke):
    count = CountBatches()
    learn = Learner(nn.Linear(4, 3), loaders(), cbs=[count], progress=False)
    learn.fit(1, 1e-2)
    assert (count.train, count.valid) == (320//16, 96//16)


def test_check_learning(no_smoke, capsys):
    assert check_learning(0.9, 0.5, "exactitud") is True
    assert "exactitud" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="no supera el umbral"):
        check_learning(0.3, 0.5, "exactitud")


def test_check_learning_in_smoke_reports_without_failing(smoke, capsys):
    assert check_learning(0.3, 0.5, "exactitud") is False
    assert "[humo] exactitud" in capsys.readouterr().out


def test_cpu_time_estimate_in_full_mode(no_smoke, monkeypatch):
    "En modo completo sobre CPU, un entrenamiento largo avisa cuánto va a tardar y cómo pasar al modo rápido."
    core.set_mode("full")
    clock = iter(range(0, 10**6, 10))            # cada lectura del reloj avanza 10 s: tres lotes "tardan" 30 s
    monkeypatch.setattr("vpc2.train.time.perf_counter", lambda: next(clock))
    out = io.StringIO()
    try:
        learn = Learner(nn.Linear(4, 3), loaders(), cbs=[ProgressBar(bars=False, summary=False, file=out)],
                        progress=False, device="cpu")
        learn.fit(2, 1e-2)
    finally:
        core.set_mode(None)
    text = out.getvalue()
    assert "va a tardar" in text and "VPC2_FAST=1" in text
    assert text.count("Aviso") == 1


def test_no_estimate_in_fast_mode(monkeypatch, one_thread):
    core.set_mode("fast")
    clock = iter(range(0, 10**6, 10))
    monkeypatch.setattr("vpc2.train.time.perf_counter", lambda: next(clock))
    out = io.StringIO()
    try:
        Learner(nn.Linear(4, 3), loaders(), cbs=[ProgressBar(bars=False, summary=False, file=out)],
                progress=False).fit(1, 1e-2)
    finally:
        core.set_mode(None)
    assert "va a tardar" not in out.getvalue()


def test_learner_accepts_ignored_labels_in_segmentation(no_smoke):
    "Máscaras con un valor ignorado (255, como VOC): el Learner no lo toma por una clase y la exactitud no lo cuenta."
    torch.manual_seed(0)
    x = torch.randn(8, 3, 6, 6)
    y = (x[:, 0] > 0).long()
    y[:, 0, :] = 255                                # un borde sin clase
    dl = DataLoader(TensorDataset(x, y), 4)
    learn = Learner(nn.Conv2d(3, 2, 1), (dl, dl), loss_func=nn.CrossEntropyLoss(ignore_index=255), progress=False)
    learn.fit(3, 0.1)
    preds, targets = learn.get_preds()
    keep = targets != 255
    by_hand = (preds.argmax(1) == targets)[keep].float().mean().item()
    assert learn.validate()["accuracy"] == pytest.approx(by_hand)
    with pytest.raises(ValueError, match="etiquetas hasta 255"):   # sin ignore_index, 255 sí es un error
        Learner(nn.Conv2d(3, 2, 1), (dl, dl), progress=False).fit(1, 0.1)
