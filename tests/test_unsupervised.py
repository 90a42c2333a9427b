"Pruebas de vpc2.unsupervised: NT-Xent, exactitud de clúster, aumentación de SimCLR, autoencoder, sonda lineal y k-NN."
from itertools import permutations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vpc2.unsupervised import (ConvAutoencoder, SimCLR, cluster_accuracy, extract_features, knn_accuracy, linear_probe,
                               make_encoder, nt_xent_loss, reconstruction_error, simclr_augment, train_autoencoder,
                               train_simclr)


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
