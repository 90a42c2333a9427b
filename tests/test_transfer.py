"Pruebas de vpc2.transfer sin red: errores claros, congelado bit a bit, pesos cargados de verdad, caché y camino en línea."
import os
import subprocess
import sys
import threading
import time
import warnings
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
from torch import nn

import vpc2.train
from vpc2.train import Learner
from vpc2.transfer import (BACKBONE_LIBRARIES, FigurasPretraining, PretrainedFallbackWarning, check_model_name,
                           create_backbone, figuras_weights_path, find_head, freeze, load_figuras_weights,
                           make_transforms, param_groups, pretrain_on_figuras, replace_head, trainable_report, unfreeze)

ARCH = "resnet18"
TINY = FigurasPretraining(n_images=48, size=32, epochs=1, batch_size=16, n_valid=16)   # segundos: sólo importa el mecanismo


pytestmark = pytest.mark.usefixtures("one_thread")   # de conftest.py


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    "Cada prueba: sin red (VPC2_OFFLINE) y con su propia carpeta de caché, para no tocar la del usuario."
    monkeypatch.setenv("VPC2_OFFLINE", "1")
    monkeypatch.setenv("VPC2_CACHE", str(tmp_path/"cache"))
    monkeypatch.setenv("VPC2_FAST", "1")


def batch(n=8, classes=3, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.randint(0, classes, (n,), generator=g)


def tiny_loaders(classes=3, seed=0):
    data = [batch(8, classes, seed=seed + i) for i in range(2)]
    return data, data[:1]


def body(model):
    head = find_head(model)
    return {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(head + ".")}


# ---------------------------------------------------------------- errores claros
def test_unknown_model_name_suggests_close_names():
    with pytest.raises(ValueError, match=r"¿Quisiste decir 'resnet18'"):
        check_model_name("resnet_18")
    with pytest.raises(ValueError, match="resnet34"):
        check_model_name("resnet-34", library="torchvision")
    with pytest.raises(ValueError, match="Biblioteca desconocida"):
        create_backbone("resnet18", 3, library="keras")


def test_bad_arguments_of_create_backbone():
    with pytest.raises(ValueError, match="'figuras'"):
        create_backbone(ARCH, 3, pretrained="imagenet1k")
    with pytest.raises(ValueError, match="entero ≥ 1"):
        create_backbone(ARCH, 0)
    with pytest.raises(ValueError, match="entero ≥ 1"):
        create_backbone(ARCH, True)
    with pytest.raises(ValueError, match="al menos 16"):
        FigurasPretraining(size=8)


def test_layer_names_that_do_not_exist():
    model = create_backbone(ARCH, 3, pretrained=None, verbose=False)
    with pytest.raises(ValueError, match=r"no tiene una capa llamada 'layer5'.*layer4"):
        freeze(model, until="layer5")
    with pytest.raises(ValueError, match="bloques de primer nivel son: conv1, bn1"):
        unfreeze(model, ["layer3", "capa4"])
    with pytest.raises(ValueError, match="orden"):
        param_groups(model, starts=["layer4", "layer2"])
    with pytest.raises(ValueError, match="≥ 1"):
        param_groups(model, div=0.1)


def test_freezing_everything_is_an_error():
    headless = timm.create_model(ARCH, num_classes=0)   # cabeza = Identity: no queda nada entrenable
    with pytest.raises(ValueError, match="sin parámetros entrenables"):
        freeze(headless)
    before = [p.requires_grad for p in headless.parameters()]
    assert all(before), "un freeze rechazado no debe dejar el modelo a medio congelar"
    frozen_all = freeze(create_backbone(ARCH, 3, pretrained=None, verbose=False)).requires_grad_(False)
    with pytest.raises(ValueError, match="descongelá"):
        param_groups(frozen_all)


def test_replace_head_needs_a_linear_head():
    with pytest.raises(ValueError, match="Reemplazala a mano"):
        replace_head(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), 2)


# ---------------------------------------------------------------- congelar de verdad
@pytest.mark.parametrize("until", ["layer3", "layer4"])
def test_frozen_blocks_keep_weights_bit_for_bit(until):
    torch.manual_seed(0)
    model = freeze(create_backbone(ARCH, 3, pretrained=None, verbose=False), until=until)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # el Learner pasa TODOS los parámetros a AdamW con weight decay: igual no debe mover los congelados
    learn = Learner(model, tiny_loaders(), progress=False, device="cpu")
    learn.fit(2, lr=1e-2)
    after = model.state_dict()
    trainable_blocks = {"layer3", "layer4", "fc"} if until == "layer3" else {"layer4", "fc"}
    for k, v in before.items():
        block = k.split(".")[0]
        if block in trainable_blocks: continue
        assert torch.equal(after[k], v), f"{k} cambió y estaba congelado"   # pesos y estadísticas de BatchNorm
    changed = {k.split(".")[0] for k, v in before.items() if not torch.equal(after[k], v)}
    assert changed == trainable_blocks


def test_feature_extractor_updates_only_head_parameters():
    torch.manual_seed(0)
    model = freeze(create_backbone(ARCH, 3, pretrained=None, verbose=False))
    head = find_head(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5, momentum=0.9)
    model.train()
    for i in range(3):
        x, y = batch(8, seed=i)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {f"{head}.weight", f"{head}.bias"}
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [f"{head}.weight", f"{head}.bias"]


def test_requires_grad_alone_does_not_freeze_batchnorm_but_freeze_does():
    model = create_backbone(ARCH, 3, pretrained=None, verbose=False)
    model.requires_grad_(False)
    mean = model.bn1.running_mean.clone()
    model.train()(batch()[0])
    assert not torch.equal(mean, model.bn1.running_mean)          # la trampa: las estadísticas se mueven
    freeze(model.requires_grad_(True))
    mean = model.bn1.running_mean.clone()
    model.train()(batch()[0])                                      # train() no las despierta
    assert torch.equal(mean, model.bn1.running_mean)
    unfreeze(model)
    model.train()(batch()[0])
    assert not torch.equal(mean, model.bn1.running_mean)          # descongeladas, vuelven a actualizarse


def test_train_bn_keeps_batchnorm_learning_in_frozen_blocks():
    model = freeze(create_backbone(ARCH, 3, pretrained=None, verbose=False), train_bn=True)
    conv, mean = model.layer1[0].conv1.weight.clone(), model.layer1[0].bn1.running_mean.clone()
    assert model.layer1[0].bn1.weight.requires_grad and not model.layer1[0].conv1.weight.requires_grad
    Learner(model, tiny_loaders(), progress=False, device="cpu").fit(1, lr=1e-2)
    assert torch.equal(conv, model.layer1[0].conv1.weight)
    assert not torch.equal(mean, model.layer1[0].bn1.running_mean)


def test_trainable_report_counts():
    model = freeze(create_backbone(ARCH, 3, pretrained=None, verbose=False), until="layer4")
    report = trainable_report(model)
    assert report.total == sum(p.numel() for p in model.parameters())
    assert report.trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)
    states = {r["bloque"]: r["estado"] for r in report}
    assert states["layer3"] == "congelado" and states["layer4"] == "entrena" and states["fc"] == "entrena"
    assert "parámetros entrenables" in repr(report) and "| bloque |" in report._repr_markdown_()


def test_param_groups_give_discriminative_rates_in_the_learner():
    model = freeze(create_backbone(ARCH, 3, pretrained=None, verbose=False), until="layer3")
    learn = Learner(model, tiny_loaders(), param_groups=lambda m: param_groups(m, div=100), progress=False, device="cpu")
    opt = learn.make_optimizer(1e-2)
    named = [g for g in opt.param_groups if "name" in g]
    assert [g["name"] for g in named] == ["layer3", "layer4", "fc"]
    torch.testing.assert_close([g["lr"] for g in named], [1e-4, 1e-3, 1e-2])
    ids = [id(p) for g in named for p in g["params"]]
    assert len(ids) == len(set(ids)) == sum(p.requires_grad for p in model.parameters())


# ---------------------------------------------------------------- pesos preentrenados de verdad
def test_figuras_pretraining_builds_vits_at_the_pretraining_size():
    "Un ViT de timm tiene tamaño de entrada fijo: se preentrena y se devuelve al tamaño de Figuras (antes fallaba con 224)."
    model = create_backbone("test_vit", 4, pretrained="figuras", config=TINY, verbose=False)
    assert model.vpc2_weights["fuente"] == "figuras"
    assert tuple(model.patch_embed.img_size) == (TINY.size, TINY.size)
    state, _ = load_figuras_weights(model.vpc2_weights["archivo"])
    assert torch.equal(model.state_dict()["pos_embed"], state["pos_embed"])
    assert model(torch.randn(2, 3, TINY.size, TINY.size)).shape == (2, 4)
    with pytest.raises(RuntimeError, match="img_size=32"):
        create_backbone("test_vit", 4, pretrained="figuras", config=TINY, verbose=False, img_size=64)


def test_figuras_weights_are_actually_loaded(capsys):
    model = create_backbone(ARCH, 4, pretrained="figuras", config=TINY)
    out = capsys.readouterr().out
    assert "Preentrenando resnet18 en Figuras" in out and "preentrenados por vpc2 en Figuras" in out
    assert model.vpc2_weights["fuente"] == "figuras"
    state, meta = load_figuras_weights(model.vpc2_weights["archivo"])
    loaded = body(model)
    for k, v in loaded.items(): assert torch.equal(v, state[k]), k
    torch.manual_seed(0)
    scratch = body(create_backbone(ARCH, 4, pretrained=None, verbose=False))
    assert sum(not torch.equal(loaded[k], scratch[k]) for k in loaded if k.endswith("weight")) > 10
    assert model.fc.out_features == 4 and meta["clases"][0] == "círculo"
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)


def test_auto_offline_falls_back_to_figuras_with_a_warning(capsys):
    with pytest.warns(PretrainedFallbackWarning, match=r"no hay red.*no son ImageNet.*conectate a internet") as caught:
        model = create_backbone(ARCH, 3, config=TINY)
    assert len(caught) == 1 and model.vpc2_weights["fuente"] == "figuras"
    assert "preentrenados por vpc2 en Figuras" in capsys.readouterr().out


def test_asking_for_figuras_or_random_weights_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # cualquier advertencia sería una falla
        assert create_backbone("test_resnet", 3, pretrained="figuras", config=TINY, verbose=False).vpc2_weights["fuente"] == "figuras"
        assert create_backbone(ARCH, 3, pretrained=None, verbose=False).vpc2_weights["fuente"] == "none"


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_auto_does_not_depend_on_the_mode(monkeypatch, mode):
    "Sin red, 'auto' usa la misma receta barata en los dos modos (antes, el modo completo preentrenaba en grande en la CPU)."
    monkeypatch.setenv("VPC2_MODE", mode)
    configs = []

    class Stop(Exception): pass

    def fake_training(name, library, seed, config, verbose):   # anota la receta y corta: no hace falta entrenar
        configs.append(config)
        raise Stop
    monkeypatch.setattr("vpc2.transfer._train_on_figuras", fake_training)
    with pytest.raises(Stop), pytest.warns(PretrainedFallbackWarning):
        create_backbone(ARCH, 3, verbose=False)
    assert configs == [FigurasPretraining()]
    assert figuras_weights_path(ARCH) == figuras_weights_path(ARCH, config=FigurasPretraining())


def _local_imagenet_file(tmp_path, name=ARCH, seed=123) -> Path:
    "Un archivo de pesos con la forma de los de ImageNet (1000 clases), como el que bajaría timm."
    torch.manual_seed(seed)
    file = tmp_path/f"{name}-imagenet.pth"
    torch.save(timm.create_model(name, num_classes=1000).state_dict(), file)
    return file


@pytest.mark.parametrize("pretrained", ["imagenet", "auto"])
def test_online_timm_path_with_a_local_weights_file(tmp_path, capsys, pretrained):
    file = _local_imagenet_file(tmp_path)
    expected = torch.load(file, weights_only=True)
    model = create_backbone(ARCH, 3, pretrained=pretrained, pretrained_cfg_overlay=dict(file=str(file)))
    assert model.vpc2_weights["fuente"] == "imagenet"
    assert "ImageNet vía timm (archivo local" in capsys.readouterr().out
    for k, v in body(model).items(): assert torch.equal(v, expected[k]), k
    assert model.fc.out_features == 3   # timm descarta la cabeza de 1000 clases y pone una nueva


def test_online_torchvision_path_with_the_hub_cache(tmp_path, monkeypatch, capsys):
    import torchvision
    weights = torchvision.models.get_model_weights("resnet18").DEFAULT
    monkeypatch.setenv("TORCH_HOME", str(tmp_path/"torch"))
    cached = Path(torch.hub.get_dir())/"checkpoints"/Path(weights.url).name
    cached.parent.mkdir(parents=True)
    torch.manual_seed(7)
    expected = torchvision.models.resnet18().state_dict()
    torch.save(expected, cached)
    model = create_backbone("resnet18", 5, pretrained="imagenet", library="torchvision")
    assert model.vpc2_weights["fuente"] == "imagenet" and "IMAGENET1K_V1" in capsys.readouterr().out
    for k, v in body(model).items(): assert torch.equal(v, expected[k]), k
    assert model.fc.out_features == 5
    cached.unlink()   # sin el archivo y sin red: error claro, y 'auto' cae en Figuras
    with pytest.raises(RuntimeError, match="Conectate"):
        create_backbone("resnet18", 5, pretrained="imagenet", library="torchvision", verbose=False)


def test_offline_imagenet_fails_fast_and_auto_falls_back(tmp_path):
    "En un proceso nuevo con una caché de Hugging Face vacía: sin red, pedir ImageNet falla en segundos."
    script = (
        "import time\n"
        "from vpc2.transfer import create_backbone, FigurasPretraining\n"
        "t = time.perf_counter()\n"
        "try:\n"
        "    create_backbone('resnet18', 3, pretrained='imagenet', verbose=False)\n"
        "except RuntimeError as e:\n"
        "    print('error', 'Conectate' in str(e), round(time.perf_counter() - t, 2))\n"
        "m = create_backbone('resnet18', 3, verbose=False, config=FigurasPretraining(n_images=32, epochs=1, n_valid=16))\n"
        "print('auto', m.vpc2_weights['fuente'])\n")
    env = {**os.environ, "HF_HOME": str(tmp_path/"hf"), "VPC2_OFFLINE": "1", "VPC2_CACHE": str(tmp_path/"cache"),
           "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    lines = out.stdout.split("\n")
    error = next(l for l in lines if l.startswith("error")).split()
    assert error[1] == "True", out.stdout + out.stderr
    assert float(error[2]) < 5, f"tardó {error[2]} s en fallar sin red"
    assert "auto figuras" in out.stdout, out.stdout + out.stderr


# ---------------------------------------------------------------- caché del backbone propio
def test_cache_round_trip(monkeypatch):
    path = pretrain_on_figuras(ARCH, seed=1, config=TINY, verbose=False)
    assert path == figuras_weights_path(ARCH, seed=1, config=TINY) and path.parent.name == "pesos"
    ckpt = torch.load(path, map_location="cpu", weights_only=True)   # sólo tensores y tipos simples
    assert set(ckpt) == {"state_dict", "meta"} and ckpt["meta"]["semilla"] == 1 and ckpt["meta"]["receta"]["n_images"] == 48
    mtime = path.stat().st_mtime_ns

    def no_training(*args, **kwargs): raise AssertionError("no debería volver a entrenar: los pesos están en la caché")
    monkeypatch.setattr("vpc2.transfer._train_on_figuras", no_training)
    assert pretrain_on_figuras(ARCH, seed=1, config=TINY, verbose=False) == path
    model = create_backbone(ARCH, 3, pretrained="figuras", seed=1, config=TINY, verbose=False)
    assert path.stat().st_mtime_ns == mtime
    for k, v in body(model).items(): assert torch.equal(v, ckpt["state_dict"][k])
    # otra semilla u otra receta: otro archivo
    assert figuras_weights_path(ARCH, seed=2, config=TINY) != path
    assert figuras_weights_path(ARCH, seed=1, config=FigurasPretraining(n_images=64)) != path


def test_pretraining_is_reproducible_from_the_seed(tmp_path, monkeypatch):
    a = load_figuras_weights(pretrain_on_figuras(ARCH, seed=5, config=TINY, verbose=False))[0]
    monkeypatch.setenv("VPC2_CACHE", str(tmp_path/"otra"))
    torch.manual_seed(999)   # el estado global no importa: la semilla de la receta manda
    b = load_figuras_weights(pretrain_on_figuras(ARCH, seed=5, config=TINY, verbose=False))[0]
    torch.testing.assert_close(a, b)
    state = torch.get_rng_state()
    pretrain_on_figuras(ARCH, seed=6, config=TINY, verbose=False)
    assert torch.equal(state, torch.get_rng_state()), "preentrenar no debe alterar el estado aleatorio de quien llama"


def test_cache_is_written_atomically(monkeypatch):
    path = figuras_weights_path(ARCH, seed=3, config=TINY)
    real_save = torch.save

    def broken_save(obj, f, *args, **kwargs):
        real_save({"a medias": torch.zeros(3)}, f)
        raise OSError("disco lleno (simulado)")
    monkeypatch.setattr(vpc2.train.torch, "save", broken_save)
    with pytest.raises(OSError, match="disco lleno"):
        pretrain_on_figuras(ARCH, seed=3, config=TINY, verbose=False)
    assert not path.exists() and list(path.parent.iterdir()) == [], "no debe quedar ni el archivo ni el temporal"
    monkeypatch.setattr(vpc2.train.torch, "save", real_save)
    assert pretrain_on_figuras(ARCH, seed=3, config=TINY, verbose=False) == path and path.exists()


def test_corrupt_cache_file_gives_a_clear_error_and_is_kept():
    path = figuras_weights_path(ARCH, seed=4, config=TINY)
    path.write_bytes(b"esto no es un checkpoint")
    with pytest.raises(RuntimeError, match="dañado.*borralo"):
        create_backbone(ARCH, 3, pretrained="figuras", seed=4, config=TINY, verbose=False)
    assert path.read_bytes() == b"esto no es un checkpoint"   # nunca se borra la caché sin pedirlo


def test_smoke_pretraining_is_capped_and_never_reused_as_real(monkeypatch):
    "En humo, la receta completa entrena con pocas imágenes y épocas, y sus pesos quedan aparte (`-humo`): no pasan por reales."
    from vpc2.core import SMOKE_BATCHES, SMOKE_ITEMS
    import vpc2.transfer
    arch = "test_resnet"                                   # la ResNet de juguete de timm: el mecanismo, en segundos
    big = FigurasPretraining(n_images=5000, size=32, epochs=40, batch_size=16, n_valid=1000)   # sin humo, minutos de CPU
    sizes, epochs = [], []
    real_tensors, real_fit = vpc2.transfer.figuras_tensors, Learner.fit_one_cycle
    monkeypatch.setattr(vpc2.transfer, "figuras_tensors", lambda n, *a, **k: sizes.append(n) or real_tensors(n, *a, **k))
    monkeypatch.setattr(Learner, "fit_one_cycle", lambda self, n, *a, **k: epochs.append(n) or real_fit(self, n, *a, **k))
    monkeypatch.setenv("VPC2_SMOKE", "1")
    path = pretrain_on_figuras(arch, seed=7, config=big, verbose=False)
    assert path.name.endswith("-humo.pt") and path == figuras_weights_path(arch, seed=7, config=big)
    assert sizes == [SMOKE_ITEMS, SMOKE_ITEMS] and epochs == [SMOKE_BATCHES]
    state, meta = load_figuras_weights(path)
    assert meta["humo"] is True and meta["receta"]["n_images"] == 5000   # la receta se conserva; el humo queda anotado
    model = create_backbone(arch, 3, pretrained="figuras", seed=7, config=big, verbose=False)
    assert "humo" in model.vpc2_weights["detalle"] and model.vpc2_weights["archivo"] == str(path)
    monkeypatch.setenv("VPC2_SMOKE", "0")
    real = figuras_weights_path(arch, seed=7, config=big)
    assert real != path and not real.exists() and "humo" not in real.name   # fuera del humo se entrenaría de verdad


# ---------------------------------------------------------------- con "red", sin salir de la máquina (127.0.0.1)
@pytest.fixture
def local_server(tmp_path):
    "Un servidor HTTP en 127.0.0.1 que sirve los archivos de `tmp_path/servidor`; devuelve (carpeta, url base)."
    folder = tmp_path/"servidor"
    folder.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def pretend_online(tmp_path, monkeypatch):
    "`has_network()` dice que hay red; torch.hub baja a una carpeta temporal."
    monkeypatch.setattr("vpc2.transfer.has_network", lambda *a, **k: True)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path/"torch"))


def _url_overlay(url):
    "Que timm baje los pesos de `url` (como los de torch.hub) y no del hub de Hugging Face."
    return dict(pretrained_cfg_overlay=dict(url=url, hf_hub_id=None))


def test_online_timm_download_from_a_server(local_server, pretend_online, tmp_path):
    folder, base = local_server
    file = _local_imagenet_file(folder)
    expected = torch.load(file, weights_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PretrainedFallbackWarning)     # bajó los pesos: no hay reemplazo ni aviso
        model = create_backbone(ARCH, 3, verbose=False, **_url_overlay(f"{base}/{file.name}"))
    assert model.vpc2_weights["fuente"] == "imagenet" and base in model.vpc2_weights["detalle"]
    for k, v in body(model).items(): assert torch.equal(v, expected[k]), k
    assert model.fc.out_features == 3


def _closed_port_url() -> str:
    "Una dirección de 127.0.0.1 donde nadie escucha: la conexión se rechaza al instante."
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/resnet18.pth"


@pytest.mark.parametrize("failure", ["rechaza la conexión", "no tiene el archivo", "sirve un archivo dañado"])
def test_network_failure_falls_back_with_a_warning_or_fails_clearly(local_server, pretend_online, failure):
    folder, base = local_server
    if failure == "rechaza la conexión": url = _closed_port_url()
    elif failure == "no tiene el archivo": url = f"{base}/no-existe.pth"
    else:
        (folder/"roto.pth").write_bytes(b"<html>esto no es un archivo de pesos</html>")
        url = f"{base}/roto.pth"
    start = time.perf_counter()
    with pytest.warns(PretrainedFallbackWarning, match=r"timm no pudo cargarlos.*Figuras.*conectate a internet"):
        model = create_backbone("test_resnet", 3, config=TINY, verbose=False, **_url_overlay(url))   # red chica: segundos
    assert model.vpc2_weights["fuente"] == "figuras"
    with pytest.raises(RuntimeError, match="No hay pesos de ImageNet.*Conectate"):
        create_backbone("test_resnet", 3, pretrained="imagenet", verbose=False, **_url_overlay(url))
    assert time.perf_counter() - start < 60


def test_make_transforms_val_matches_torchvision_weights():
    import torchvision
    from PIL import Image
    from skimage import data as skdata
    photo = Image.fromarray(skdata.chelsea())
    reference = torchvision.models.ResNet34_Weights.IMAGENET1K_V1.transforms()(photo)
    ours = make_transforms(224)["val"](photo)
    assert ours.shape == reference.shape == (3, 224, 224)
    torch.testing.assert_close(ours, reference, atol=0.05, rtol=0)      # PIL y tensores redondean distinto
    train = make_transforms(32, flip=True)["train"]
    assert train(photo).shape == (3, 32, 32) and not torch.equal(train(photo), train(photo))
    with pytest.raises(ValueError, match="entero positivo"):
        make_transforms(0)
    with pytest.raises(ValueError, match="uno de cada por canal"):
        make_transforms(32, mean=(0.5,), std=(0.5, 0.5))


def test_backbone_libraries_name():
    assert BACKBONE_LIBRARIES == ("timm", "torchvision")
    with pytest.raises(ValueError, match=r"Usá una de \('timm', 'torchvision'\)"):
        check_model_name("resnet18", library="keras")


# --- ejercicios del cuaderno 06: la comprobación rechaza respuestas equivocadas
from vpc2.ejercicios import run_exercise


def test_exercise_6_1_rejects_wrong_answers():
    assert run_exercise("6.1", lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad)).passed
    for wrong in (lambda m: sum(p.numel() for p in m.parameters()),                       # cuenta también lo congelado
                  lambda m: len([p for p in m.parameters() if p.requires_grad])):         # tensores, no parámetros
        r = run_exercise("6.1", wrong)
        assert not r.passed and "caso" in r.message


def _freeze_before(model, name):
    trainable = False
    for n, child in model.named_children():
        trainable = trainable or n == name
        child.requires_grad_(trainable)
    return model


def test_exercise_6_2_rejects_wrong_answers():
    assert run_exercise("6.2", _freeze_before).passed

    def off_by_one(model, name):                                  # congela también `name`
        trainable = False
        for n, child in model.named_children():
            child.requires_grad_(trainable); trainable = trainable or n == name
        return model

    def no_unfreeze(model, name):                                 # no descongela lo que ya venía congelado
        seen = False
        for n, child in model.named_children():
            seen = seen or n == name
            if not seen: child.requires_grad_(False)
        return model

    for wrong in (off_by_one, no_unfreeze, lambda m, n: None):
        r = run_exercise("6.2", wrong)
        assert not r.passed and "caso" in r.message


def test_exercise_6_3_rejects_wrong_answers():
    def right(lr, n, div): return [lr] if n == 1 else [lr * div ** (-(n - 1 - k) / (n - 1)) for k in range(n)]
    assert run_exercise("6.3", right).passed
    linear = lambda lr, n, div: [lr] if n == 1 else [lr / div + (lr - lr / div) * k / (n - 1) for k in range(n)]
    for wrong in (linear, lambda lr, n, div: right(lr, n, div)[::-1], lambda lr, n, div: right(lr, n, div)[:-1]):
        r = run_exercise("6.3", wrong)
        assert not r.passed and "caso" in r.message


# --- los pesos de Figuras que trae el paquete (test_resnet)
def test_shipped_weights_are_used_and_verified(tmp_path):
    from vpc2.transfer import SHIPPED_WEIGHTS, shipped_weights, shipped_weights_dir
    model = create_backbone("test_resnet", 3, pretrained="figuras", verbose=False)
    assert "incluidos en el paquete" in model.vpc2_weights["detalle"]
    state, meta, path = shipped_weights("test_resnet")
    assert path.parent == shipped_weights_dir() and path.stat().st_size < 500_000
    assert meta["exactitud_prueba_cuantizada"] >= 0.85
    head = find_head(model)
    for k, v in model.state_dict().items():
        if not k.startswith(head + "."): assert torch.equal(v, state[k]), k
    (tmp_path/path.name).write_bytes(path.read_bytes()[:-1] + b"x")     # un byte cambiado: error claro, no pesos raros
    with pytest.raises(RuntimeError, match="dañados"):
        shipped_weights("test_resnet", folder=tmp_path)
    assert ("timm", "test_resnet", 0) in SHIPPED_WEIGHTS and shipped_weights("test_resnet", seed=1) is None
