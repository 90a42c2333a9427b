"Pruebas de vpc2.unsupervised: PCA y k-means contra scikit-learn, azar por permutación, NT-Xent, exactitud de clúster, aumentación de SimCLR, autoencoder, sonda lineal y k-NN."
from itertools import permutations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vpc2.unsupervised import (ConvAutoencoder, SimCLR, cluster_accuracy, extract_features, kmeans, knn_accuracy,
                               linear_probe, make_encoder, nt_xent_loss, pca, permutation_chance, reconstruction_error,
                               simclr_augment, train_autoencoder, train_simclr)


def nt_xent_matrix(z1, z2, t):
    "Formulación independiente: log-softmax fila por fila sobre la matriz 2N×2N sin la diagonal."
    z = torch.cat([z1, z2]).double()
    z = z/z.norm(dim=1, keepdim=True)
    n2 = len(z)
    s = (z @ z.T)/t
    off = ~torch.eye(n2, dtype=torch.bool)
    logp = s - torch.logsumexp(s.masked_select(off).view(n2, n2 - 1), dim=1, keepdim=True)
    pos = torch.arange(n2).roll(n2//2)
    return -logp[torch.arange(n2), pos].mean()


@pytest.mark.parametrize("n,d,t", [(2, 3, 0.5), (5, 8, 0.1), (16, 32, 1.0)])
def test_nt_xent_matches_independent_formulation(one_thread, n, d, t):
    torch.manual_seed(n)
    z1, z2 = torch.randn(n, d), torch.randn(n, d)
    torch.testing.assert_close(nt_xent_loss(z1, z2, t).double(), nt_xent_matrix(z1, z2, t), rtol=1e-5, atol=1e-6)


def test_nt_xent_default_temperature_and_properties(one_thread):
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 4), torch.randn(6, 4)
    torch.testing.assert_close(nt_xent_loss(z1, z2), nt_xent_loss(z1, z2, 0.5))
    torch.testing.assert_close(nt_xent_loss(z1, z2), nt_xent_loss(2*z1, 7*z2))
    z = torch.eye(4)
    assert nt_xent_loss(z, z, 0.05) < 1e-6
    assert nt_xent_loss(z, z.roll(1, 0), 0.05) > 10


@pytest.mark.parametrize("z1,z2,kw,msg", [
    (torch.randn(4, 8), torch.randn(3, 8), {}, "misma forma"),
    (torch.randn(1, 8), torch.randn(1, 8), {}, "al menos 2"),
    (torch.randn(4, 8), torch.randn(4, 8), {"temperature": 0}, "positivo"),
    (torch.randn(4, 8), torch.randn(4, 8), {"temperature": -0.5}, "positivo"),
    (torch.randn(4, 2, 2), torch.randn(4, 2, 2), {}, "(N, D)"),
])
def test_nt_xent_bad_input(z1, z2, kw, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        nt_xent_loss(z1, z2, **kw)


def test_cluster_accuracy_permutations_and_brute_force():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 100)
    assert cluster_accuracy(y, rng.permutation(5)[y]) == 1.0
    for seed in range(10):
        r = np.random.default_rng(seed)
        yt, yp = r.integers(0, 4, 40), r.integers(0, 4, 40)
        yp[:20] = (yt[:20] + seed) % 4
        brute = max(np.mean(np.array(p)[yp] == yt) for p in permutations(range(4)))
        assert cluster_accuracy(yt, yp) == pytest.approx(brute)
    assert cluster_accuracy(torch.tensor([0, 0, 1, 1]), torch.tensor([5, 7, 9, 9])) == 0.75


def test_cluster_accuracy_bad_input():
    with pytest.raises(ValueError, match="una predicción por muestra"): cluster_accuracy([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="1-D"): cluster_accuracy(np.zeros((2, 2)), [0, 1])
    with pytest.raises(ValueError, match="vacíos"): cluster_accuracy([], [])


def test_simclr_augment(one_thread):
    torch.manual_seed(0)
    x = torch.rand(6, 3, 16, 16)
    v = simclr_augment(x)
    assert v.shape == x.shape and 0 <= v.min() and v.max() <= 1
    same = simclr_augment(x, scale=(1, 1), rotate=False, flip=False, jitter=0, p_gray=0)
    torch.testing.assert_close(same.sort(1).values, x.sort(1).values, atol=1e-5, rtol=0)
    g = simclr_augment(x, p_gray=1.0)
    torch.testing.assert_close(g[:, 0], g[:, 2])
    with pytest.raises(ValueError, match="N, 3, H, W"): simclr_augment(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="fracción del área"): simclr_augment(x, scale=(0.8, 0.5))


def test_autoencoder_shapes_and_training(one_thread):
    torch.manual_seed(0)
    ae = ConvAutoencoder(latent=4, size=16, channels=(4, 8))
    x = torch.rand(8, 3, 16, 16)
    assert ae(x).shape == x.shape and ae.encode(x).shape == (8, 4)
    torch.testing.assert_close(reconstruction_error(ae, x, batch_size=3), ((ae(x) - x)**2).mean((1, 2, 3)))
    dl = [(x,)]*4
    losses = train_autoencoder(ae, dl, epochs=10, lr=1e-2)
    assert len(losses) == 40 and losses[-1] < losses[0]
    assert len(train_autoencoder(ae, dl, epochs=1, noise_std=0.3)) == 4
    with pytest.raises(ValueError, match="múltiplo de 4"): ConvAutoencoder(size=18, channels=(4, 8))


def test_simclr_model_and_training_step(one_thread):
    torch.manual_seed(0)
    enc = make_encoder((4, 8))
    model = SimCLR(enc, feat_dim=8, proj_dim=3)
    x = torch.rand(6, 3, 16, 16)
    assert enc(x).shape == (6, 8) and model(x).shape == (6, 3)
    losses = train_simclr(model, [(x, torch.zeros(6))]*2, epochs=2)
    assert len(losses) == 4 and all(np.isfinite(losses))


def test_knn_matches_sklearn():
    from sklearn.neighbors import KNeighborsClassifier
    torch.manual_seed(0)
    ftr, fva = torch.randn(150, 8), torch.randn(60, 8)
    ltr, lva = ftr[:, :3].argmax(1), fva[:, :3].argmax(1)
    for k in (1, 7):
        ref = KNeighborsClassifier(k, metric="cosine", algorithm="brute").fit(ftr, ltr).score(fva, lva)
        assert knn_accuracy(ftr, ltr, fva, lva, k=k) == pytest.approx(ref, abs=1/60 + 1e-9)
    with pytest.raises(ValueError, match="entre 1"): knn_accuracy(ftr, ltr, fva, lva, k=151)


def test_linear_probe_separable_and_features(one_thread):
    torch.manual_seed(0)
    x = torch.randn(300, 3); y = (x[:, 1] > 0).long()
    dls = ([(x[:200], y[:200])], [(x[200:], y[200:])])
    assert linear_probe(nn.Flatten(), dls, epochs=200) > 0.95
    f, l = extract_features(nn.Flatten(), [(x[:5], y[:5]), (x[5:9], y[5:9])])
    torch.testing.assert_close(f, x[:9]); torch.testing.assert_close(l, y[:9])
    with pytest.raises(ValueError, match="no tiene lotes"): extract_features(nn.Flatten(), [])


@pytest.mark.parametrize("n,d,k", [(100, 20, 5), (30, 50, 10), (200, 3, 3), (12, 12, 12)])
def test_pca_matches_sklearn(one_thread, n, d, k):
    from sklearn.decomposition import PCA
    rng = np.random.default_rng(n + d)
    x = rng.normal(size=(n, d))*rng.uniform(0.1, 3, d) + rng.normal(size=d)
    comps, var, mean = pca(x, k)
    ref = PCA(k, svd_solver="full").fit(x)
    assert comps.shape == (k, d) and var.shape == (k,) and mean.shape == (d,)
    signs = np.sign((comps.numpy()*ref.components_).sum(1, keepdims=True))   # cada componente, salvo el signo
    np.testing.assert_allclose(signs*comps.numpy(), ref.components_, atol=1e-8)
    np.testing.assert_allclose(var.numpy(), ref.explained_variance_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mean.numpy(), ref.mean_, atol=1e-12)
    c32, v32, _ = pca(torch.tensor(x, dtype=torch.float32), k)                # también con tensores float32
    assert c32.dtype == torch.float32 and np.allclose(v32.numpy(), ref.explained_variance_, rtol=1e-3)


@pytest.mark.parametrize("seed,k,iters", [(0, 4, 100), (1, 3, 1), (2, 6, 2), (3, 5, 300), (4, 2, 5)])
def test_kmeans_matches_sklearn_lloyd(one_thread, seed, k, iters):
    from sklearn.cluster import KMeans
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=(50, 4)) + 3*rng.normal(size=4) for _ in range(4)])
    init = x[rng.choice(len(x), k, replace=False)]
    centers, labels = kmeans(x, k, init, iters)
    ref = KMeans(k, init=init, n_init=1, algorithm="lloyd", max_iter=iters, tol=0).fit(x)
    assert centers.shape == (k, 4) and labels.shape == (len(x),)
    np.testing.assert_allclose(centers.numpy(), ref.cluster_centers_, atol=1e-10)
    np.testing.assert_array_equal(labels.numpy(), ref.labels_)
    init_copy = init.copy(); kmeans(x, k, init, iters); np.testing.assert_array_equal(init, init_copy)   # init no se modifica


def test_pca_kmeans_bad_input():
    x = torch.rand(10, 4)
    with pytest.raises(ValueError, match=r"entre 1 y min\(N, D\)"): pca(x, 5)
    with pytest.raises(ValueError, match=r"entre 1 y min\(N, D\)"): pca(x, 0)
    with pytest.raises(ValueError, match=r"\(N, D\)"): pca(torch.rand(2, 3, 4), 1)
    with pytest.raises(ValueError, match=r"forma \(3, 4\)"): kmeans(x, 3, torch.rand(2, 4))
    with pytest.raises(ValueError, match=r"forma \(3, 4\)"): kmeans(x, 3, torch.rand(3, 5))
    with pytest.raises(ValueError, match="entre 1"): kmeans(x, 11, torch.rand(11, 4))


def test_permutation_chance_is_above_one_over_k():
    y = np.arange(500) % 5
    chance = permutation_chance(y, np.random.default_rng(0).integers(0, 5, 500), n=100)
    assert chance.shape == (100,) and chance.min() >= 0.2 and chance.mean() > 0.21
    assert permutation_chance(y, y, n=50).max() < 0.35            # barajar destruye un agrupamiento perfecto
    np.testing.assert_array_equal(permutation_chance(y, y, n=5, seed=3), permutation_chance(y, y, n=5, seed=3))
    with pytest.raises(ValueError, match="entero >= 1"): permutation_chance(y, y, n=0)


def test_simclr_augment_color_switch(one_thread):
    torch.manual_seed(0)
    x = torch.rand(4, 3, 16, 16)
    torch.testing.assert_close(simclr_augment(x, scale=(1, 1), rotate=False, flip=False, color=False), x, atol=1e-5, rtol=0)
    v = simclr_augment(x, color=False)
    assert v.shape == x.shape and not torch.allclose(v, x)


def test_exercises_accept_the_solution_and_reject_wrong_answers():
    from vpc2.ejercicios import run_exercise

    def pca_reconstruct(x, k):
        c, _, m = pca(x, k)
        return m + (x - m) @ c.T @ c
    assert run_exercise("13.1", pca_reconstruct).passed
    for wrong in (lambda x, k: (x - x.mean(0)) @ pca(x, k)[0].T @ pca(x, k)[0],       # sin sumar la media
                  lambda x, k: (x - x.mean(0)) @ pca(x, k)[0].T):                     # la proyección (N, k), no (N, D)
        r = run_exercise("13.1", wrong); assert not r.passed and "caso" in r.message

    def lloyd_step(x, centers):
        labels = torch.cdist(x, centers).argmin(1)
        return torch.stack([x[labels == j].mean(0) for j in range(len(centers))]), labels
    assert run_exercise("13.2", lloyd_step).passed
    for wrong in (lambda x, c: (lloyd_step(x, c)[0], torch.cdist(x, c).argmax(1)),   # el centro más lejano
                  lambda x, c: (lloyd_step(x, c)[0].T, lloyd_step(x, c)[1]),         # centros traspuestos
                  lambda x, c: (c, lloyd_step(x, c)[1])):                            # no mueve los centros
        r = run_exercise("13.2", wrong); assert not r.passed and "caso" in r.message

    def clip_loss(img, txt, temperature=0.07):
        logits = F.normalize(img, dim=1) @ F.normalize(txt, dim=1).T / temperature
        t = torch.arange(len(img))
        return (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t))/2
    assert run_exercise("13.3", clip_loss).passed
    for wrong in (lambda i, t, tau: F.cross_entropy(F.normalize(i, dim=1) @ F.normalize(t, dim=1).T/tau, torch.arange(len(i))),  # una sola dirección
                  lambda i, t, tau: clip_loss(i*10, t, 1.0),                                                                        # sin temperatura
                  lambda i, t, tau: (F.cross_entropy(i @ t.T/tau, torch.arange(len(i))) + F.cross_entropy(t @ i.T/tau, torch.arange(len(i))))/2):  # sin normalizar
        r = run_exercise("13.3", wrong); assert not r.passed and "caso" in r.message
    assert run_exercise("13.3", lambda *a: (_ for _ in ()).throw(NotImplementedError("Ejercicio 13.3"))).pending


def test_shipped_simclr_loads_and_verifies_checksum(one_thread, tmp_path):
    from vpc2.unsupervised import SIMCLR_FILE, SIMCLR_RECIPE, shipped_simclr
    model, meta = shipped_simclr()
    assert isinstance(model, SimCLR) and meta["receta"] == SIMCLR_RECIPE
    assert len(meta["perdidas"]) == SIMCLR_RECIPE["steps"]
    assert model.encoder(torch.rand(2, 3, 32, 32)).shape == (2, 64)
    with pytest.raises(FileNotFoundError, match="make_simclr"):
        shipped_simclr(tmp_path)
    import importlib.resources
    blob = bytearray((importlib.resources.files("vpc2")/"pesos"/SIMCLR_FILE).read_bytes())
    blob[-1] ^= 1                                                     # un byte cambiado
    (tmp_path/SIMCLR_FILE).write_bytes(bytes(blob))
    with pytest.raises(RuntimeError, match="SHA-256"):
        shipped_simclr(tmp_path)


def test_pretrain_simclr_short_run(one_thread):
    from vpc2.unsupervised import pretrain_simclr
    steps = []
    model, losses = pretrain_simclr({"n_images": 32, "batch_size": 8, "steps": 3}, callback=lambda s, m: steps.append(s))
    assert steps == [1, 2, 3] and len(losses) == 3 and all(np.isfinite(losses))
    assert isinstance(model, SimCLR)
