"Pruebas de `vpc2.generative`: KL, VAE, GAN, difusión (contra diffusers, que está en el extra dev y acá se exige), FID (contra torchmetrics), ejercicios y errores en español."
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from vpc2.ejercicios import run_exercise
from vpc2.generative import (VAE, DenoisingUNet, Discriminator, Generator, NoiseSchedule, active_units, modes_covered,
                             ring_of_gaussians, train_vae, vae_terms,
                             diffusion_loss, discriminator_loss, fid_from_features, frechet_distance, generator_loss,
                             interpolate, judge_samples, kl_normal, reparameterize, sample_diffusion, timestep_embedding,
                             train_diffusion, train_gan, vae_loss)


@pytest.fixture(autouse=True)
def _seed(one_thread):
    torch.manual_seed(0)


# ---------------- VAE
def test_kl_normal_matches_torch_distributions():
    mu, logvar = torch.randn(8, 5) * 2, torch.randn(8, 5) * 3
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
    assert_close(kl_normal(mu, logvar), ref)
    assert_close(kl_normal(torch.zeros(4, 3), torch.zeros(4, 3)), torch.zeros(4))
    assert kl_normal(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3)).shape == (1,)


def test_kl_normal_errors():
    with pytest.raises(ValueError, match="misma forma"):
        kl_normal(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"mu\[None\]"):
        kl_normal(torch.zeros(3), torch.zeros(3))


def test_reparameterize_statistics_and_gradient():
    mu = torch.full((20000, 1), 2.0, requires_grad=True)
    logvar = torch.full((20000, 1), math.log(9.0), requires_grad=True)
    z = reparameterize(mu, logvar)
    assert abs(z.mean().item() - 2.0) < 0.1 and abs(z.std().item() - 3.0) < 0.1
    z.sum().backward()
    assert_close(mu.grad, torch.ones_like(mu))
    assert logvar.grad.abs().sum() > 0


def test_vae_shapes_loss_and_errors():
    vae = VAE(size=8, latent_dim=4, width=8)
    x = torch.rand(3, 1, 8, 8)
    logits, mu, logvar = vae(x)
    assert logits.shape == x.shape and mu.shape == (3, 4) and logvar.shape == (3, 4)
    p = torch.sigmoid(logits)
    bce = -(x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3))
    assert_close(vae_loss((logits, mu, logvar), x), (bce + kl_normal(mu, logvar)).mean(), rtol=1e-4, atol=1e-4)
    samples = vae.sample(5)
    assert samples.shape == (5, 1, 8, 8) and 0 <= samples.min() and samples.max() <= 1
    path = interpolate(vae, x[0], x[1], steps=6)
    assert path.shape == (6, 1, 8, 8)
    assert_close(path[[0, -1]], vae.decode(vae.encode(x[:2])[0]))
    with pytest.raises(ValueError, match="VAE\\(size="):
        vae(torch.rand(3, 1, 12, 12))
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        vae_loss((logits, mu, logvar), x * 2 - 1)
    with pytest.raises(ValueError, match="múltiplo de 4"):
        VAE(size=6)


# ---------------- GAN
def test_gan_losses_match_hand_formula():
    real, fake = torch.randn(9), torch.randn(9)
    expected_d = -(torch.sigmoid(real).log().mean() + (1 - torch.sigmoid(fake)).log().mean())
    assert_close(discriminator_loss(real, fake), expected_d)
    assert_close(generator_loss(fake), -torch.sigmoid(fake).log().mean())


def test_generator_discriminator_shapes_and_training_step():
    gen, disc = Generator(z_dim=5, size=8, width=8), Discriminator(size=8, width=8)
    assert gen(torch.randn(4, 5)).shape == (4, 1, 8, 8)
    assert gen.sample(3).abs().max() <= 1 and gen.training
    assert disc(torch.rand(4, 1, 8, 8)).shape == (4,)
    before = [p.clone() for p in gen.parameters()]
    seen = []
    hist = train_gan(gen, disc, [(torch.rand(6, 1, 8, 8) * 2 - 1, torch.zeros(6))] * 2, epochs=1, callback=seen.append)
    assert seen == [0] and set(hist) == {"loss_d", "loss_g", "d_real", "d_fake"} and len(hist["loss_d"]) == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, gen.parameters()))
    with pytest.raises(ValueError, match="múltiplo de 4"):
        Discriminator(size=10)


# ---------------- Difusión
def _diffusers():
    import diffusers            # extra dev: estas comparaciones corren siempre en las pruebas
    return diffusers


def test_add_noise_matches_diffusers():
    ref = _diffusers().DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    sched = NoiseSchedule(num_steps=1000, beta_start=1e-4, beta_end=0.02)
    x0 = torch.rand(8, 3, 4, 4) * 2 - 1
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 1, 2, 100, 500, 997, 998, 999])
    assert_close(sched.add_noise(x0, noise, t), ref.add_noise(x0, noise, t), rtol=0, atol=1e-6)
    t = torch.randint(0, 1000, (8,))
    assert_close(sched.add_noise(x0, noise, t), ref.add_noise(x0, noise, t), rtol=0, atol=1e-6)
    assert_close(sched.add_noise(x0, noise, 321), ref.add_noise(x0, noise, torch.full((8,), 321)), rtol=0, atol=1e-6)


def test_step_matches_diffusers_full_and_strided():
    diffusers = _diffusers()
    sched = NoiseSchedule()
    x, eps = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 4, 4)
    ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    for t in (999, 637, 1, 0):
        ours = sched.step(eps, t, x, generator=torch.Generator().manual_seed(t))
        theirs = ref.step(eps, t, x, generator=torch.Generator().manual_seed(t)).prev_sample
        assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    strided = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    strided.set_timesteps(20)
    ts = sched.timesteps(20)
    assert torch.equal(ts, strided.timesteps)
    for i in (0, 10, 19):
        prev = int(ts[i + 1]) if i + 1 < len(ts) else -1
        ours = sched.step(eps, int(ts[i]), x, prev_t=prev, generator=torch.Generator().manual_seed(i))
        theirs = strided.step(eps, ts[i], x, generator=torch.Generator().manual_seed(i)).prev_sample
        assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("t", [1000, -1, torch.tensor([0, 1000])])
def test_t_out_of_range_is_a_spanish_error(t):
    sched = NoiseSchedule()
    x0 = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"fuera de rango.*\[0, 1000\)"):
        sched.add_noise(x0, torch.randn_like(x0), t)
    if not torch.is_tensor(t):
        with pytest.raises(ValueError, match="fuera de rango"):
            sched.step(x0, t, x0)


def test_images_out_of_range_warn_and_types_are_checked():
    sched = NoiseSchedule()
    x = torch.rand(2, 1, 4, 4) * 255
    with pytest.warns(UserWarning, match=r"\[-1, 1\].*127.5"):
        sched.add_noise(x, torch.randn_like(x), 3)
    with pytest.warns(UserWarning, match="escalalos"):
        diffusion_loss(DenoisingUNet(width=8), sched, torch.randn(2, 1, 4, 4) * 3)
    with pytest.raises(TypeError, match="entero"):
        sched.add_noise(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4), 2.0)
    with pytest.raises(ValueError, match="forma de x_t"):
        sched.step(torch.zeros(1, 1, 4, 4), 5, torch.zeros(2, 1, 4, 4))


@pytest.mark.parametrize("n", [50, 10, 1000, 7])
def test_ddim_step_matches_diffusers(n):
    ref = _diffusers().DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    ref.set_timesteps(n)
    sched = NoiseSchedule()
    assert torch.equal(sched.timesteps(n), ref.timesteps)
    x, eps = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4) * 2
    for t in ref.timesteps[[0, len(ref.timesteps) // 2, -1]]:
        assert_close(sched.ddim_step(eps, int(t), x, n, eta=0.0), ref.step(eps, t, x, eta=0.0).prev_sample,
                     rtol=1e-5, atol=1e-5)
        ours = sched.ddim_step(eps, int(t), x, n, eta=1.0, generator=torch.Generator().manual_seed(3))
        theirs = ref.step(eps, t, x, eta=1.0, generator=torch.Generator().manual_seed(3)).prev_sample
        assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
        assert_close(sched.ddim_step(eps, int(t), x, n, use_clipped_model_output=True),
                     ref.step(eps, t, x, eta=0.0, use_clipped_model_output=True).prev_sample, rtol=1e-5, atol=1e-5)


def test_ddim_sampling_loop_matches_diffusers_loop():
    "El bucle entero de sample_diffusion(method='ddim') es el de DDIMScheduler con use_clipped_model_output=True."
    torch.manual_seed(0)
    unet, sched = DenoisingUNet(width=8, num_classes=3), NoiseSchedule()
    y = torch.tensor([0, 1, 2])
    ours = sample_diffusion(unet, sched, 3, (1, 8, 8), 10, y=y, method="ddim", generator=torch.Generator().manual_seed(0))
    ref = _diffusers().DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    ref.set_timesteps(10)
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for t in ref.timesteps:
            x = ref.step(unet(x, torch.full((3,), int(t)), y), t, x, eta=0.0, use_clipped_model_output=True).prev_sample
    assert_close(ours, x.clamp(-1, 1), rtol=1e-5, atol=1e-5)


def test_ddim_sampling_is_deterministic_and_guidance_interpolates():
    torch.manual_seed(0)
    unet, sched = DenoisingUNet(width=8, num_classes=3), NoiseSchedule()
    y = torch.tensor([0, 1, 2])
    a = sample_diffusion(unet, sched, 3, (1, 8, 8), 5, y=y, method="ddim", generator=torch.Generator().manual_seed(0))
    b = sample_diffusion(unet, sched, 3, (1, 8, 8), 5, y=y, method="ddim", generator=torch.Generator().manual_seed(0))
    assert_close(a, b)
    u = sample_diffusion(unet, sched, 3, (1, 8, 8), 5, method="ddim", generator=torch.Generator().manual_seed(0))
    w0 = sample_diffusion(unet, sched, 3, (1, 8, 8), 5, y=y, guidance=0.0, method="ddim", generator=torch.Generator().manual_seed(0))
    assert_close(u, w0, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="una por imagen"):
        sample_diffusion(unet, sched, 2, (1, 8, 8), 5, y=y)
    with pytest.raises(ValueError, match="cond_drop"):
        train_diffusion(DenoisingUNet(width=8), sched, [], 1, cond_drop=0.2)


def test_timestep_embedding():
    e = timestep_embedding(torch.tensor([0, 7]), 6)
    assert e.shape == (2, 6)
    assert_close(e[0], torch.tensor([1.0, 1, 1, 0, 0, 0]))
    freqs = torch.exp(-math.log(10000) * torch.arange(3) / 3)
    assert_close(e[1], torch.cat([torch.cos(7 * freqs), torch.sin(7 * freqs)]))


def test_unet_shapes_conditioning_and_sampling():
    unet = DenoisingUNet(width=8, num_classes=4)
    x = torch.randn(3, 1, 8, 8)
    assert unet(x, torch.tensor([1, 2, 3]), torch.tensor([0, 1, 3])).shape == x.shape
    assert_close(unet(x, 1), unet(x, 1, torch.full((3,), 4)))                 # sin y: la clase nula (índice 4)
    with pytest.raises(ValueError, match="no es condicional"):
        DenoisingUNet(width=8)(x, 1, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="múltiplos de 4"):
        unet(torch.randn(1, 1, 6, 6), 1, torch.tensor([0]))
    sched = NoiseSchedule()
    y = torch.tensor([0, 1])
    a = sample_diffusion(unet, sched, 2, (1, 8, 8), num_inference_steps=3, y=y, generator=torch.Generator().manual_seed(1))
    b = sample_diffusion(unet, sched, 2, (1, 8, 8), num_inference_steps=3, y=y, generator=torch.Generator().manual_seed(1))
    assert a.shape == (2, 1, 8, 8) and a.abs().max() <= 1
    assert_close(a, b)
    hist = train_diffusion(unet, sched, [(torch.rand(4, 1, 8, 8) * 2 - 1, torch.tensor([0, 1, 2, 3]))], epochs=1,
                           conditional=True)
    assert len(hist) == 1 and hist[0] > 0


# ---------------- Evaluación
def test_frechet_distance_known_gaussians():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    s1, s2 = rng.uniform(0.3, 3, 4), rng.uniform(0.3, 3, 4)
    expected = ((mu1 - mu2) ** 2).sum() + ((s1 - s2) ** 2).sum()
    assert frechet_distance(mu1, np.diag(s1 ** 2), mu2, np.diag(s2 ** 2)) == pytest.approx(expected, rel=1e-8)
    with pytest.raises(ValueError, match="misma dimensión"):
        frechet_distance(mu1, np.eye(4), mu2[:2], np.eye(2))


class _Features(nn.Module):
    "Extractor de prueba: promedio de cada fila de la imagen (H características)."
    num_features = 6

    def forward(self, x):
        return x.float().mean(dim=(1, 3))


def test_fid_matches_torchmetrics_with_custom_features():
    from torchmetrics.image.fid import FrechetInceptionDistance
    real, fake = torch.rand(80, 1, 6, 6), torch.rand(70, 1, 6, 6) ** 2
    fid = FrechetInceptionDistance(feature=_Features())
    fid.update(real, real=True)
    fid.update(fake, real=False)
    ours = fid_from_features(_Features()(real), _Features()(fake))
    assert ours == pytest.approx(fid.compute().item(), rel=1e-3)
    assert fid_from_features(_Features()(real), _Features()(real)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="al menos 2"):
        fid_from_features(torch.rand(1, 6), torch.rand(5, 6))


def test_judge_samples():
    class Oracle(nn.Module):   # la clase está escrita en el primer píxel
        def __init__(self): super().__init__(); self.w = nn.Parameter(torch.zeros(1))
        def forward(self, x): return torch.eye(3)[x.flatten(1)[:, 0].long()] * 40
    imgs = torch.arange(3.0).repeat(20)[:, None, None, None].expand(60, 1, 2, 2)
    j = judge_samples(Oracle(), imgs, 3)
    assert j["counts"].tolist() == [20, 20, 20] and j["coverage"] == 3 and j["score"] == pytest.approx(3.0, rel=1e-4)
    j = judge_samples(Oracle(), torch.zeros(60, 1, 2, 2), 3)
    assert j["coverage"] == 1 and j["score"] == pytest.approx(1.0, rel=1e-4)


# ---------------- VAE contra autoencoder, anillo
def test_autoencoder_is_deterministic_and_train_vae_reports_both_terms():
    x = torch.rand(40, 1, 8, 8)
    ae, vae = VAE(size=8, latent_dim=3, width=8, variational=False), VAE(size=8, latent_dim=3, width=8)
    assert_close(ae(x)[0], ae(x)[0])
    assert not torch.allclose(vae(x)[0], vae(x)[0])
    rec, kl = vae_terms(vae(x), x)
    assert rec > 0 and kl >= 0
    h = train_vae(ae, x, x[:10], epochs=2, batch_size=16)
    assert set(h) == {"rec", "kl"} and len(h["rec"]) == 2
    assert active_units(torch.stack([torch.randn(200), torch.full((200,), 3.0)], 1)) == 1
    with pytest.raises(ValueError, match="N ≥ 2"):
        active_units(torch.zeros(1, 4))


def test_ring_and_modes_covered():
    pts, centers = ring_of_gaussians(1600, generator=torch.Generator().manual_seed(0))
    assert pts.shape == (1600, 2) and centers.shape == (8, 2)
    assert_close(centers.norm(dim=1), torch.full((8,), 2.0))
    assert modes_covered(pts, centers, 0.15)[0] == 8
    assert modes_covered(pts[(pts[:, 0] > 1.5)], centers, 0.15)[0] == 1       # sólo el modo de la derecha
    with pytest.raises(ValueError, match="positivos"):
        ring_of_gaussians(0)


# ---------------- Ejercicios: cada comprobación rechaza respuestas equivocadas
def test_exercise_12_1_rejects_wrong_answers():
    from vpc2.generative import kl_normal as right
    assert run_exercise("12.1", right).passed
    for wrong in (lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - lv - 1),               # sin sumar: forma (N, D)
                  lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - lv).sum(1),            # falta el −1
                  lambda mu, lv: (mu ** 2 + lv.exp() - lv - 1).sum(1)):             # falta el ½
        r = run_exercise("12.1", wrong)
        assert not r.passed and "caso" in r.message


def test_exercise_12_2_rejects_wrong_answers():
    def right(x0, eps, t, ab):
        a = ab[t].reshape(-1, 1, 1, 1)
        return a.sqrt() * x0 + (1 - a).sqrt() * eps
    assert run_exercise("12.2", right).passed
    for wrong in (lambda x0, eps, t, ab: ab[t].reshape(-1, 1, 1, 1) * x0 + (1 - ab[t].reshape(-1, 1, 1, 1)) * eps,  # sin raíces
                  lambda x0, eps, t, ab: right(x0, eps, t - 1, ab),                                               # t corrido
                  lambda x0, eps, t, ab: right(x0, eps, t, ab)[0]):                                               # forma
        r = run_exercise("12.2", wrong)
        assert not r.passed and "caso" in r.message


def test_exercise_12_3_rejects_wrong_answers():
    def right(x, e, ab_t, ab_prev):
        x0 = (x - math.sqrt(1 - ab_t) * e) / math.sqrt(ab_t)
        return math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * e
    assert run_exercise("12.3", right).passed
    for wrong in (lambda x, e, ab_t, ab_prev: right(x, e, ab_t, ab_prev).clamp(-1, 1) * 0 + (x - math.sqrt(1 - ab_t) * e) / math.sqrt(ab_t),  # devuelve x̂₀
                  lambda x, e, ab_t, ab_prev: right(x, e, ab_prev, ab_t),                                                    # ᾱ al revés
                  lambda x, e, ab_t, ab_prev: right(x, e, ab_t, ab_prev)[:1]):                                               # forma
        r = run_exercise("12.3", wrong)
        assert not r.passed and "caso" in r.message
