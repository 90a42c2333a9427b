"Pruebas de vpc2.train: caminos de error, checkpoints, reproducibilidad, schedules, callbacks y TensorBoard."
import copy
import io
import math
import os

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.classification import MulticlassF1Score

from vpc2 import core
from vpc2.train import (CancelEpochException, Callback, EarlyStopping, GradientClipping, Learner, MixedPrecision,
                        NonFiniteLossError, OneCycleSchedule, ProgressBar, SaveBestModel, SchedulerCallback,
                        TensorBoardCallback, load_checkpoint, save_checkpoint, simple_cnn)


# Modo rápido (CPU, sin barras) y un solo hilo: con modelos tan chicos, más hilos compitiendo por 2 núcleos sólo frenan.
# Sin corrida de humo aunque VPC2_SMOKE esté definida (conftest la quita): estas pruebas cuentan lotes.
pytestmark = pytest.mark.usefixtures("fast_one_thread")


def toy_dls(n=320, n_classes=3, size=8, bs=32, seed=0, shuffle=True, classes=None):
    "La clase c hace más brillante el canal c % 3: se aprende en pocas épocas. 256 de entrenamiento, el resto validación."
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, n_classes, (n,), generator=g)
    x = 0.5 * torch.randn(n, 3, size, size, generator=g)
    x[torch.arange(n), y % 3] += 1.0
    train, valid = TensorDataset(x[:256], y[:256]), TensorDataset(x[256:], y[256:])
    if classes is not None: train.classes = valid.classes = classes
    return DataLoader(train, bs, shuffle=shuffle), DataLoader(valid, bs)


def toy_model(n_classes=3):
    return simple_cnn(n_classes, channels=(8,))


def make_learner(seed=0, model=None, dls=None, **kw):
    core.seed_everything(seed)
    return Learner(model or toy_model(), dls or toy_dls(), progress=kw.pop("progress", False), **kw)


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class ScriptedValidLoss(Callback):
    "Reemplaza la valid_loss registrada por valores fijos y guarda una copia de los pesos de cada época."
    order = 10

    def __init__(self, values):
        self.values, self.weights = list(values), []

    def after_epoch(self):
        h = self.learn.history
        h["valid_loss"][-1] = self.values[len(h["epoch"]) - 1]
        self.weights.append(copy.deepcopy(self.learn.model.state_dict()))


# ---------------------------------------------------------------- datos y argumentos

def test_accepts_dataloaders_and_tuple():
    from vpc2.data import DataLoaders
    train, valid = toy_dls()
    for dls in (DataLoaders(train, valid), (train, valid), [train, valid]):
        learn = Learner(toy_model(), dls, progress=False)
        assert learn.train_dl is train and learn.valid_dl is valid


def test_rejects_single_dataloader():
    with pytest.raises(TypeError, match=r"tupla \(train_dl, valid_dl\)"):
        Learner(toy_model(), toy_dls()[0])


@pytest.mark.parametrize("epochs", [0, -1, 1.5, True, "2"])
def test_bad_epochs(epochs):
    with pytest.raises(ValueError, match="entero ≥ 1"):
        make_learner().fit(epochs)


@pytest.mark.parametrize("lr", [0, -1e-3, float("nan"), "1e-3"])
def test_bad_lr(lr):
    with pytest.raises(ValueError, match="tasa de aprendizaje tiene que ser un número positivo"):
        make_learner().fit(1, lr)


def test_empty_train_loader():
    empty = DataLoader(TensorDataset(torch.zeros(0, 3, 8, 8), torch.zeros(0, dtype=torch.long)), 4)
    with pytest.raises(ValueError, match="no tiene lotes"):
        make_learner(dls=(empty, toy_dls()[1])).fit(1)


def test_callback_class_instead_of_instance():
    with pytest.raises(TypeError, match=r"Pasá una instancia: EarlyStopping\(\)"):
        make_learner(cbs=[EarlyStopping])


def test_metric_that_is_not_torchmetrics():
    with pytest.raises(TypeError, match="no es una métrica de torchmetrics"):
        make_learner(metrics=[lambda pred, y: 0.0])


def test_metric_with_many_values():
    learn = make_learner(metrics=[MulticlassF1Score(num_classes=3, average=None)])
    with pytest.raises(ValueError, match="average='macro'"):
        learn.fit(1)


# ---------------------------------------------------------------- errores durante el entrenamiento

def test_nan_in_data_names_epoch_and_batch():
    x, y = toy_dls()[0].dataset.tensors
    x = x.clone()
    x[70, 0, 0, 0] = float("nan")       # lotes de 32 sin barajar: imagen 70 → lote 3
    dls = (DataLoader(TensorDataset(x, y), 32), toy_dls()[1])
    with pytest.raises(NonFiniteLossError, match="la época 1, lote 3 de 8"):
        make_learner(dls=dls).fit(2)


def test_inf_loss_in_second_epoch():
    calls = {"n": 0}
    ce = nn.CrossEntropyLoss()

    def loss_func(pred, y):
        calls["n"] += 1   # época 1: 8 lotes de entrenamiento + 2 de validación; la llamada 13 es el lote 3 de la época 2
        return ce(pred, y) * (math.inf if calls["n"] == 13 else 1.0)

    learn = make_learner(loss_func=loss_func)
    with pytest.raises(NonFiniteLossError, match=r"inf en la época 2, lote 3 de 8"):
        learn.fit(3)
    assert learn.history["epoch"] == [1]


def test_output_size_vs_dataset_classes():
    dls = toy_dls(n_classes=3, classes=["a", "b", "c", "d", "e"])
    with pytest.raises(ValueError, match=r"devuelve 3 valores por imagen pero los datos tienen 5 clases \(a, b, c, d, e\)"):
        make_learner(dls=dls).fit(1)


def test_output_size_vs_labels():
    with pytest.raises(ValueError, match="etiquetas hasta 4"):
        make_learner(model=toy_model(3), dls=toy_dls(n_classes=5)).fit(1)


def test_output_size_checked_in_validate_too():
    learn = make_learner(model=toy_model(2), dls=toy_dls(n_classes=3))
    with pytest.raises(ValueError, match="al menos 3 salidas"):
        learn.validate()


# ---------------------------------------------------------------- checkpoints

def test_checkpoint_round_trip(tmp_path):
    learn = make_learner(dls=toy_dls(classes=["x", "y", "z"]))
    learn.fit(2, 1e-2)
    path = learn.save(tmp_path/"pesos"/"modelo.pt", epoch=2, nota="prueba")
    other = make_learner(seed=123, dls=toy_dls(classes=["x", "y", "z"]))
    assert not states_equal(other.model.state_dict(), learn.model.state_dict())
    ckpt = other.load(path)
    assert states_equal(other.model.state_dict(), learn.model.state_dict())
    assert (ckpt["epoch"], ckpt["nota"], ckpt["classes"]) == (2, "prueba", ["x", "y", "z"])
    torch.testing.assert_close(other.get_preds()[0], learn.get_preds()[0])
    assert other.validate() == learn.validate()
    assert os.listdir(tmp_path/"pesos") == ["modelo.pt"]   # sin temporales


def test_checkpoint_is_loadable_with_weights_only(tmp_path):
    learn = make_learner()
    path = learn.save(tmp_path/"m.pt")
    ckpt = torch.load(path, weights_only=True)
    assert states_equal(ckpt["model"], learn.model.state_dict())


def test_load_wrong_architecture(tmp_path):
    path = make_learner().save(tmp_path/"m.pt")
    with pytest.raises(RuntimeError, match="no corresponden a este modelo"):
        make_learner(model=toy_model(5)).load(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No existe el archivo de pesos"):
        make_learner().load(tmp_path/"nada.pt")


def test_atomic_write_keeps_previous_file(tmp_path):
    path = save_checkpoint({"v": torch.ones(2)}, tmp_path/"c.pt")
    with pytest.raises(Exception):
        save_checkpoint({"v": lambda: None}, path)         # no se puede serializar
    torch.testing.assert_close(load_checkpoint(path)["v"], torch.ones(2))
    assert os.listdir(tmp_path) == ["c.pt"]


def test_save_best_model_restores_best_epoch(tmp_path):
    script = ScriptedValidLoss([1.0, 0.6, 0.8, 0.7])
    best = SaveBestModel(tmp_path/"mejor.pt")
    learn = make_learner(cbs=[script, best])
    learn.fit(4, 1e-2)
    assert (best.best_epoch, best.best) == (2, 0.6)
    assert states_equal(learn.model.state_dict(), script.weights[1])
    assert load_checkpoint(tmp_path/"mejor.pt")["epoch"] == 2


def test_save_best_model_restores_after_nan(tmp_path):
    calls = {"n": 0}
    ce = nn.CrossEntropyLoss()

    def loss_func(pred, y):
        calls["n"] += 1
        return ce(pred, y) * (math.nan if calls["n"] == 22 else 1.0)   # época 3, lote 2

    script = ScriptedValidLoss([1.0, 0.5, 0.9])
    learn = make_learner(loss_func=loss_func, cbs=[script, SaveBestModel(tmp_path/"mejor.pt")])
    with pytest.raises(NonFiniteLossError, match="época 3, lote 2"):
        learn.fit(5, 1e-2)
    assert states_equal(learn.model.state_dict(), script.weights[1])   # volvió a la época 2, sin NaN
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())


def test_early_stopping_patience():
    stop = EarlyStopping(patience=2)
    learn = make_learner(cbs=[ScriptedValidLoss([1.0, 0.9, 0.95, 0.91, 0.5, 0.4]), stop])
    learn.fit(6, 1e-2)
    assert learn.history["epoch"] == [1, 2, 3, 4]
    assert (stop.stopped_epoch, stop.best_epoch) == (4, 2)


def test_early_stopping_on_metric_maximises():
    class ScriptedAcc(Callback):
        order = 10
        def after_epoch(self):
            h = self.learn.history
            h["accuracy"][-1] = [0.5, 0.6, 0.55, 0.58, 0.7][len(h["epoch"]) - 1]
    stop = EarlyStopping("accuracy", patience=2)
    learn = make_learner(cbs=[ScriptedAcc(), stop])
    learn.fit(5, 1e-2)
    assert (stop.mode, stop.stopped_epoch, stop.best) == ("max", 4, 0.6)


def test_monitor_unknown_column():
    with pytest.raises(ValueError, match="no está en el historial"):
        make_learner(cbs=[SaveBestModel(monitor="val_acc")]).fit(1)


# ---------------------------------------------------------------- reproducibilidad y resultados

def test_same_seed_same_history():
    def run(seed):
        learn = make_learner(seed, metrics=[MulticlassF1Score(num_classes=3)])
        learn.fit_one_cycle(2, 1e-2)
        return learn.history
    assert run(0) == run(0)
    assert run(0)["train_loss"] != run(1)["train_loss"]


def test_learns_toy_problem_and_validate_matches_history():
    learn = make_learner()
    learn.fit(3, 1e-2)
    h = learn.history
    assert list(h) == ["epoch", "train_loss", "valid_loss", "lr", "accuracy"]
    assert h["accuracy"][-1] > 0.9 and h["train_loss"][-1] < h["train_loss"][0]
    res = learn.validate()
    assert res == {"loss": pytest.approx(h["valid_loss"][-1]), "accuracy": pytest.approx(h["accuracy"][-1])}


def test_validation_loss_and_metrics_against_references():
    learn = make_learner(metrics={"f1": MulticlassF1Score(num_classes=3, average="macro")})
    learn.fit(1, 1e-2)
    probs, targets = learn.get_preds(probs=False)
    res = learn.validate()
    torch.testing.assert_close(res["loss"], nn.functional.cross_entropy(probs, targets).item())
    assert res["f1"] == pytest.approx(f1_score(targets, probs.argmax(1), average="macro"), abs=1e-6)


def test_predict_with_class_names():
    learn = make_learner(dls=toy_dls(classes=["rojo", "verde", "azul"]))
    learn.fit(2, 1e-2)
    x, y = learn.valid_dl.dataset[0]
    label, idx, probs = learn.predict((x, y))
    assert label == ["rojo", "verde", "azul"][idx] and idx == int(probs.argmax())
    torch.testing.assert_close(probs.sum(), torch.tensor(1.0))
    with pytest.raises(TypeError, match="espera un tensor"):
        learn.predict(x.numpy())


def test_cancel_epoch_skips_validation_and_record():
    class SkipSecond(Callback):
        def after_step(self):
            if self.learn.epoch == 1: raise CancelEpochException()
    learn = make_learner(cbs=[SkipSecond()])
    learn.fit(3, 1e-2)
    assert learn.history["epoch"] == [1, 2]    # la segunda época no se registró


# ---------------------------------------------------------------- tasa de aprendizaje

class GroupLRs(Callback):
    "Anota la tasa de cada grupo de parámetros en cada paso del optimizador."
    def before_fit(self): self.lrs = []
    def before_step(self): self.lrs.append([g["lr"] for g in self.learn.opt.param_groups])


def test_one_cycle_per_group_matches_torch():
    model = toy_model()
    probe = GroupLRs()
    learn = make_learner(model=model, param_groups=[{"params": model[:4], "lr_mult": 0.1}], cbs=[probe])
    learn.fit_one_cycle(3, 1e-2, pct_start=0.3)
    n = 3 * len(learn.train_dl)
    opt = torch.optim.AdamW([{"params": [nn.Parameter(torch.zeros(1))]}, {"params": [nn.Parameter(torch.zeros(1))]}])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[1e-3, 1e-2], total_steps=n, pct_start=0.3)
    expected = []
    for _ in range(n):
        expected.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    assert len(probe.lrs) == n
    np.testing.assert_allclose(probe.lrs, expected, rtol=1e-12)


def test_step_schedule_is_per_epoch():
    probe = GroupLRs()
    learn = make_learner(cbs=[probe])
    learn.fit(5, 0.1, cbs=[SchedulerCallback(lambda opt, l: torch.optim.lr_scheduler.StepLR(opt, 2, 0.5), per_batch=False)])
    per_epoch = np.array(probe.lrs)[::len(learn.train_dl), 0]
    np.testing.assert_allclose(per_epoch, [0.1 * 0.5 ** (e // 2) for e in range(5)])
    np.testing.assert_allclose(learn.history["lr"], per_epoch)


def test_lr_mult_zero_freezes_group():
    model = toy_model()
    before = copy.deepcopy(model.state_dict())
    learn = make_learner(model=model, param_groups=[{"params": model[0], "lr_mult": 0.0}])
    learn.fit(2, 1e-2)
    assert torch.equal(model[0].weight, before["0.weight"])
    assert not torch.equal(model[-1].weight, before["6.weight"])


def test_frozen_parameters_stay_out_of_optimizer():
    model = toy_model()
    for p in model[:4].parameters(): p.requires_grad_(False)
    before = copy.deepcopy(model.state_dict())
    learn = make_learner(model=model)
    learn.fit(1, 1e-2)
    assert [len(g["params"]) for g in learn.opt.param_groups] == [2]
    assert torch.equal(model[0].weight, before["0.weight"])
    for p in model.parameters(): p.requires_grad_(False)
    with pytest.raises(ValueError, match="no tiene parámetros entrenables"):
        learn.fit(1)


def test_param_group_errors():
    model = toy_model()
    with pytest.raises(ValueError, match="dos grupos"):
        make_learner(model=model, param_groups=[model[0], model[:2]]).fit(1)
    with pytest.raises(ValueError, match="no son del modelo"):
        make_learner(model=model, param_groups=[{"params": nn.Linear(2, 2).parameters()}]).fit(1)


def test_lr_find_restores_weights_and_buffers():
    learn = make_learner()
    learn.fit(1, 1e-2)
    before = copy.deepcopy(learn.model.state_dict())
    learn.model.eval()
    res = learn.lr_find(num_it=40, show_plot=False)
    assert states_equal(learn.model.state_dict(), before)      # pesos y estadísticas de BatchNorm
    assert not learn.model.training                             # y el modo en que estaba
    ratios = np.diff(np.log(res.lrs))
    np.testing.assert_allclose(ratios, np.log(1e8) / 39)
    assert res.lrs[0] == pytest.approx(1e-7)
    lrs, losses = res.trimmed()
    assert len(lrs) == len(res.lrs) - min(10, len(res.lrs) // 4) - min(5, len(res.lrs) // 4)
    assert res.lr_min == pytest.approx(lrs[np.argmin(losses)] / 10)
    assert lrs[0] <= res.lr_steep <= res.lr_min * 10


def test_lr_suggestions_on_known_curve():
    from vpc2.train import LRFindResult
    lrs = np.logspace(-6, 0, 61)
    # baja como una sigmoide centrada en 1e-3 (pendiente máxima), mínimo en 1e-1, después explota; ruido al comienzo
    losses = 2 - 1 / (1 + np.exp(-3 * (np.log10(lrs) + 3))) + 50 * np.clip(np.log10(lrs) + 1, 0, None) ** 2
    losses[:3] = 0.1
    res = LRFindResult(list(lrs), list(losses))
    assert res.lr_steep == pytest.approx(1e-3, rel=0.3)
    assert res.lr_min == pytest.approx(1e-2, rel=1e-6)


def test_smoke_run_caps_every_loop(monkeypatch):
    "En una corrida de humo (VPC2_SMOKE=1) el Learner recorre 2 lotes por bucle: fit, validate, get_preds y lr_find."
    monkeypatch.setenv("VPC2_SMOKE", "1")
    seen = []

    class CountBatches(Callback):
        def after_batch(self): seen.append(self.learn.training)

    learn = make_learner(cbs=[CountBatches()])
    assert len(learn.train_dl) == 8 and learn.train_batches == core.SMOKE_BATCHES
    learn.fit(3, 1e-2)
    assert seen == ([True] * core.SMOKE_BATCHES + [False] * core.SMOKE_BATCHES) * 3
    assert learn.history["epoch"] == [1, 2, 3]
    probs, targets = learn.get_preds()
    assert probs.shape == (core.SMOKE_BATCHES * 32, 3) and len(targets) == core.SMOKE_BATCHES * 32
    sched = OneCycleSchedule()
    learn.fit(2, 1e-2, cbs=[sched])
    assert len(sched.lrs) == 2 * core.SMOKE_BATCHES                     # el ciclo único se ajusta a los lotes que hay
    res = learn.lr_find(num_it=40, show_plot=False)
    assert res.num_it < 40 and len(res.lrs) <= res.num_it
    np.testing.assert_allclose(np.diff(np.log(res.lrs)), np.log(1e8) / (res.num_it - 1))
    monkeypatch.delenv("VPC2_SMOKE")
    assert make_learner().lr_find(num_it=40, show_plot=False).num_it == 40   # sin humo, el barrido pedido


def test_lr_find_bad_range():
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        make_learner().lr_find(start_lr=1.0, end_lr=1e-3, show_plot=False)


# ---------------------------------------------------------------- callbacks

def test_tensorboard_event_files_read_back(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    learn = make_learner(cbs=[TensorBoardCallback(tmp_path)])
    learn.fit(3, 1e-2)
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path))
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == {"perdida/entrenamiento", "perdida/validacion", "tasa_de_aprendizaje",
                                          "metricas/exactitud"}
    for tag, key in [("perdida/entrenamiento", "train_loss"), ("metricas/exactitud", "accuracy"), ("tasa_de_aprendizaje", "lr")]:
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [1, 2, 3]
        np.testing.assert_allclose([e.value for e in events], learn.history[key], rtol=1e-6)


def test_tensorboard_graph_and_weight_histograms(tmp_path):
    "Con graph e histograms: el grafo del modelo y un histograma por parámetro y época; el entrenamiento no cambia."
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    plain = make_learner()
    plain.fit(2, 1e-2)
    learn = make_learner(cbs=[TensorBoardCallback(tmp_path, graph=True, histograms=True)])
    learn.fit(2, 1e-2)
    assert learn.history == plain.history                      # trazar el grafo no toca pesos ni BatchNorm
    acc = EventAccumulator(str(tmp_path), size_guidance={"histograms": 0})
    acc.Reload()
    tags = acc.Tags()
    assert tags["graph"]
    names = [n for n, _ in learn.model.named_parameters()]
    assert set(tags["histograms"]) == {f"pesos/{n}" for n in names}
    last = acc.Histograms(f"pesos/{names[0]}")[-1]
    assert last.step == 2
    w = learn.model.state_dict()[names[0]]
    assert last.histogram_value.num == w.numel()
    assert last.histogram_value.min == pytest.approx(w.min().item()) and last.histogram_value.max == pytest.approx(w.max().item())


def test_gradient_clipping_bounds_norm():
    class Norms(Callback):
        order = 100
        def before_fit(self): self.norms = []
        def before_step(self):
            self.norms.append(nn.utils.get_total_norm([p.grad for p in self.learn.model.parameters()]).item())
    free, clipped = Norms(), Norms()
    make_learner(cbs=[free]).fit(1, 1e-2)
    make_learner(cbs=[GradientClipping(0.05), clipped]).fit(1, 1e-2)
    assert max(free.norms) > 0.05 and max(clipped.norms) <= 0.05 * (1 + 1e-5)


def test_mixed_precision_bf16_on_cpu():
    class Dtypes(Callback):
        order = 100
        def before_fit(self): self.seen = set()
        def after_loss(self): self.seen.add(self.learn.pred.dtype)
    d = Dtypes()
    learn = make_learner(cbs=[MixedPrecision(), d])
    learn.fit(2, 1e-2)
    assert d.seen == {torch.bfloat16}
    assert not learn.scaler.is_enabled() and math.isfinite(learn.history["valid_loss"][-1])
    assert learn.history["accuracy"][-1] > 0.8


def test_progress_bar_writes_spanish_summary():
    out = io.StringIO()
    learn = make_learner(cbs=[ProgressBar(bars=True, file=out)])
    learn.fit(2, 1e-2)
    text = out.getvalue()
    assert "época 1/2 · pérdida entr." in text and "época 2/2" in text and "exactitud" in text
    assert "accuracy" not in text                 # la clave del historial sigue siendo 'accuracy'; se imprime en castellano
    assert "Entrenando" in text and "Épocas" in text


def test_progress_bar_in_validate_alone():
    out = io.StringIO()
    bar = ProgressBar(bars=True, file=out)
    learn = make_learner(cbs=[bar])
    learn.validate()
    assert "Validando" in out.getvalue() and bar.bar is None and bar.epoch_bar is None
    learn.fit(1, 1e-2)
    assert bar.bar is None and "época 1/1" in out.getvalue()


def test_progress_bar_silent_bars_in_fast_mode():
    out = io.StringIO()
    make_learner(cbs=[ProgressBar(file=out)]).fit(1, 1e-2)
    assert "Entrenando" not in out.getvalue() and "época 1/1" in out.getvalue()


def test_plot_history():
    import matplotlib
    matplotlib.use("Agg")
    learn = make_learner()
    with pytest.raises(ValueError, match="Todavía no hay historial"):
        learn.plot_history()
    learn.fit(2, 1e-2)
    fig = learn.plot_history()
    labels = {t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()}
    assert len(fig.axes) == 2 and len(labels) == 3


# ---------------------------------------------------------------- etiquetas blandas y ciclos cortos
def test_soft_labels_in_training_keep_default_accuracy():
    "Con mixup/cutmix el entrenamiento recibe etiquetas blandas; la validación (enteras) igual mide la exactitud."
    train, valid = toy_dls()
    x, y = train.dataset.tensors
    soft = 0.8 * nn.functional.one_hot(y, 3).float() + 0.2 / 3
    learn = make_learner(dls=(DataLoader(TensorDataset(x, soft), 32), valid))
    learn.fit(2, lr=1e-2)
    assert "accuracy" in learn.history and learn.history["accuracy"][-1] > 0.6


def test_soft_labels_do_not_hide_a_wrong_head():
    train, valid = toy_dls()
    x, y = train.dataset.tensors
    soft_ds = TensorDataset(x, nn.functional.one_hot(y, 3).float())
    with pytest.raises(ValueError, match="tienen 3 clases pero el modelo devuelve 4"):
        make_learner(model=toy_model(4), dls=(DataLoader(soft_ds, 32), valid)).fit(1)
    soft_ds.classes = ["a", "b", "c"]
    with pytest.raises(ValueError, match="3 salidas"):
        make_learner(model=toy_model(4), dls=(DataLoader(soft_ds, 32), valid)).fit(1)


@pytest.mark.parametrize("batches", [1, 2, 4, 10])
def test_one_cycle_with_very_few_steps(batches):
    "4 pasos con pct_start=0.25 (o 10 con 0.1) hacían dividir por cero a OneCycleLR."
    train, valid = toy_dls(n=256 + 32, bs=256 // batches)
    learn = make_learner(dls=(train, valid))
    learn.fit_one_cycle(1, lr=1e-2, pct_start=1 / batches if batches > 1 else 0.25)
    assert len(learn.history["lr"]) == 1 and math.isfinite(learn.history["train_loss"][-1])


# ---------------------------------------------------------------- el Learner hace exactamente las cuentas del bucle a mano

class BatchLosses(Callback):
    "Anota la pérdida de cada lote de entrenamiento (en una prueba, una .item() por lote no importa)."
    def __init__(self): self.losses = []
    def after_loss(self): self.losses.append(self.learn.loss.item())


def hand_loop(model, train_dl, epochs: int, lr: float) -> list[float]:
    "El bucle mínimo de PyTorch con el mismo optimizador que el Learner por defecto (AdamW)."
    opt, loss_func, losses = torch.optim.AdamW(model.parameters(), lr=lr), nn.CrossEntropyLoss(), []
    for _ in range(epochs):
        model.train()
        for xb, yb in train_dl:
            loss = loss_func(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
            losses.append(loss.item())
    return losses


@pytest.mark.parametrize("epochs", [1, 3])
def test_learner_equals_hand_loop_exactly(epochs):
    """Mismas pérdidas lote a lote y mismos pesos finales, bit a bit, que el bucle a mano (misma semilla, sin barajar).
    Falla si el Learner deja de poner los gradientes en cero, da el paso dos veces, valida en modo entrenamiento, etc."""
    train_dl, valid_dl = toy_dls(shuffle=False)
    core.seed_everything(0)
    hand_model = toy_model()
    core.seed_everything(0)
    learn_model = toy_model()
    assert states_equal(hand_model.state_dict(), learn_model.state_dict())
    by_hand = hand_loop(hand_model, train_dl, epochs, lr=1e-2)
    recorder = BatchLosses()
    learn = Learner(learn_model, (train_dl, valid_dl), device="cpu", cbs=[recorder], progress=False)
    learn.fit(epochs, lr=1e-2)
    assert len(by_hand) == epochs * len(train_dl)
    assert recorder.losses == by_hand
    assert states_equal(learn.model.state_dict(), hand_model.state_dict())   # pesos y estadísticas de BatchNorm
    per_epoch = np.array(by_hand).reshape(epochs, -1).mean(1)                  # lotes de igual tamaño
    assert learn.history["train_loss"] == pytest.approx(per_epoch.tolist(), rel=1e-6)
    assert by_hand[-1] < by_hand[0]                                            # y no es una comparación vacía


def test_validation_metrics_batched_equal_per_batch_updates():
    "Las métricas de clasificación juntadas de a varios lotes dan lo mismo que actualizarlas lote a lote."
    learn = make_learner(metrics={"f1": MulticlassF1Score(3, average="macro"), "acc": core_accuracy(3)},
                         dls=toy_dls(bs=8))
    res = learn.validate()
    preds, targets = learn.get_preds(probs=False)
    f1, acc = MulticlassF1Score(3, average="macro"), core_accuracy(3)
    for i in range(0, len(targets), 8):
        f1.update(preds[i:i + 8], targets[i:i + 8]); acc.update(preds[i:i + 8], targets[i:i + 8])
    assert res["f1"] == f1.compute().item() and res["acc"] == acc.compute().item()
    by_hand = nn.functional.cross_entropy(preds, targets).item()
    assert res["loss"] == pytest.approx(by_hand, rel=1e-6)


def core_accuracy(n):
    from torchmetrics.classification import MulticlassAccuracy
    return MulticlassAccuracy(n, average="micro")


def test_save_checkpoint_refuses_a_whole_module(tmp_path):
    model = toy_model()
    with pytest.raises(TypeError, match="es un modelo entero"):
        save_checkpoint(model, tmp_path/"m.pt")
    with pytest.raises(TypeError, match=r"state\['model'\] es un modelo entero"):
        save_checkpoint({"model": model}, tmp_path/"m.pt")
    assert not list(tmp_path.iterdir())                      # no dejó nada a medias
    save_checkpoint({"model": model.state_dict()}, tmp_path/"m.pt")
    assert states_equal(load_checkpoint(tmp_path/"m.pt")["model"], model.state_dict())


def test_save_best_model_default_file_is_new_per_fit(tmp_path, monkeypatch, capsys):
    "Sin path, cada fit escribe en un archivo propio de la caché (dos corridas no se pisan) y dice cuál."
    monkeypatch.setenv("VPC2_CACHE", str(tmp_path))
    files = []
    for seed in (0, 1):
        best = SaveBestModel()
        make_learner(seed, cbs=[best]).fit(1, lr=1e-2)
        files.append(best.file)
    assert files[0] != files[1] and all(f.parent == tmp_path/"modelos" and f.is_file() for f in files)
    out = capsys.readouterr().out
    assert out.count("SaveBestModel: los mejores pesos de este entrenamiento van a") == 2
    assert load_checkpoint(files[0])["epoch"] == 1


def test_model_with_dict_output_trains_without_metrics():
    "Una salida que no es un tensor (p. ej. un dict) entrena y valida con su pérdida, sin métricas por defecto."
    class DictOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = toy_model()
        def forward(self, x): return {"logits": self.net(x)}
    learn = make_learner(model=DictOut(), loss_func=lambda p, y: nn.functional.cross_entropy(p["logits"], y))
    learn.fit(1, 1e-2)
    assert list(learn.history) == ["epoch", "train_loss", "valid_loss", "lr"]
    assert math.isfinite(learn.history["valid_loss"][0])


def test_lr_find_keeps_raw_losses():
    "lr_find guarda también la pérdida de cada lote sin suavizar, una por tasa probada."
    res = make_learner().lr_find(num_it=20, show_plot=False)
    assert res.raw_losses is not None and len(res.raw_losses) == len(res.lrs) == len(res.losses)
    assert res.losses[0] == pytest.approx(res.raw_losses[0])   # con la corrección de sesgo, el primero coincide


@pytest.mark.parametrize("label, wrong", [
    ("3.1", lambda e, lr0, s, g: lr0 * g ** ((e + 1) // s)),          # scheduler.step() antes: corrido una época
    ("3.1", lambda e, lr0, s, g: lr0 * g ** (e / s)),                 # sin redondear hacia abajo
    ("3.2", lambda losses, beta=0.98: [float(np.mean(losses[:i + 1])) for i in range(len(losses))]),   # promedio simple
    ("3.2", lambda losses, beta=0.98: _ema_without_bias_correction(losses, beta)),                       # sin corrección
    ("3.2", lambda losses, beta=0.98: _ema_without_bias_correction(losses, beta)[:-1]),                  # un elemento menos
    ("3.3", lambda grads, c: [g * min(1.0, c / g.norm().item()) for g in grads]),   # norma de cada tensor por separado
    ("3.3", lambda grads, c: [g * c / torch.sqrt(sum((x ** 2).sum() for x in grads)) for g in grads]),   # escala siempre
])
def test_exercises_reject_wrong_answers(label, wrong):
    import vpc2.train  # noqa: F401  (registra los ejercicios 3.x)
    from vpc2.ejercicios import run_exercise
    r = run_exercise(label, wrong)
    assert not r.passed and "caso" in r.message


def _ema_without_bias_correction(losses, beta):
    avg, out = 0.0, []
    for loss in losses:
        avg = beta * avg + (1 - beta) * loss
        out.append(avg)
    return out


def test_exercises_accept_reference_solutions():
    from vpc2.ejercicios import run_exercise
    from vpc2.train import _clip_reference, _smooth_reference, _step_lr_reference
    for label, fn in (("3.1", _step_lr_reference), ("3.2", _smooth_reference), ("3.3", _clip_reference)):
        assert run_exercise(label, fn).passed
