"""Network shapes and ranges per family, and the options each one has."""
import pytest
import torch

from landscape.trainers.networks import FAMILIES, build_network, make_config
from landscape.trainers.networks.dcgan import DCGANDiscriminator, DiscriminatorConfig, GeneratorConfig, WGANCritic, build_generator
from landscape.trainers.networks.esrgan import RRDBConfig, RRDBNet, VGGDiscriminator, VGGDiscriminatorConfig
from landscape.trainers.networks.glcic import CompletionConfig, CompletionNetwork, ContextDiscriminator, ContextDiscriminatorConfig
from landscape.trainers.networks.pix2pix import PatchGAN, PatchGANConfig, UNetConfig, UNetGenerator


@pytest.mark.parametrize("arch,resolution", [("dcgan", 64), ("dcgan", 128), ("resup", 32), ("resup", 128)])
def test_generators_make_images_of_their_resolution(arch, resolution):
    net = build_generator(GeneratorConfig(arch=arch, resolution=resolution, latent_dim=16, width=4)).eval()
    out = net(torch.randn(2, 16))
    assert out.shape == (2, 3, resolution, resolution)
    assert out.abs().max() <= 1.0


def test_classic_dcgan_uses_transposed_convs_and_resup_does_not():
    classic = build_generator(GeneratorConfig(arch="dcgan", resolution=64, width=4))
    resup = build_generator(GeneratorConfig(arch="resup", resolution=64, width=4))
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in classic.modules())
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in resup.modules())
    assert any(isinstance(m, torch.nn.Upsample) for m in resup.modules())


@pytest.mark.parametrize("bad", [{"arch": "dcgan", "resolution": 32}, {"resolution": 100}, {"arch": "vae"}])
def test_generator_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        GeneratorConfig(**bad)


@pytest.mark.parametrize("options", [{}, {"spectral_norm": True}, {"self_attention": True},
                                     {"minibatch_discrimination": True}, {"norm": "layer"},
                                     {"spectral_norm": True, "self_attention": True, "minibatch_discrimination": True}])
def test_discriminator_options_give_one_logit_per_image(options):
    d = DCGANDiscriminator(config=DiscriminatorConfig(resolution=64, width=4, **options))
    assert d(torch.randn(3, 3, 64, 64)).shape == (3,)
    if options.get("self_attention"):
        assert any(type(m).__name__ == "SelfAttention" for m in d.modules())


def test_minibatch_discrimination_sees_the_batch():
    d = DCGANDiscriminator(config=DiscriminatorConfig(resolution=32, width=4, norm="none", minibatch_discrimination=True)).eval()
    x = torch.randn(4, 3, 32, 32)
    alone = d(x[:1])
    together = d(x)[:1]
    assert not torch.allclose(alone, together)


def test_wgan_critic_refuses_batch_norm_and_has_none():
    critic = WGANCritic(resolution=32, width=4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules())
    assert critic(torch.randn(2, 3, 32, 32)).shape == (2,)
    with pytest.raises(ValueError):
        WGANCritic(norm="batch")


@pytest.mark.parametrize("h,w", [(32, 32), (64, 96), (96, 32)])
def test_unet_is_fully_convolutional_at_multiples_of_its_stride(h, w):
    config = UNetConfig(num_downs=5, width=4, resolution=32)
    net = UNetGenerator(config=config).eval()
    out = net(torch.zeros(1, len(config.classes), h, w))
    assert out.shape == (1, 3, h, w)


def test_unet_dropout_sits_in_three_decoder_blocks():
    net = UNetGenerator(config=UNetConfig(num_downs=8, width=4))
    with_dropout = [i for i, block in enumerate(net.up) if any(isinstance(m, torch.nn.Dropout) for m in block)]
    assert with_dropout == [1, 2, 3]


def test_patchgan_sees_70px_patches():
    d = PatchGAN(config=PatchGANConfig(width=4))
    (features,) = d(torch.zeros(1, 8, 256, 256), torch.zeros(1, 3, 256, 256))
    assert features[-1].shape == (1, 1, 30, 30)  # the 70x70 PatchGAN's 30x30 grid at 256 px
    assert [f.shape[1] for f in features[:-1]] == [4, 8, 16, 32]  # what feature matching compares


def test_multiscale_patchgan_judges_the_pair_halved_too():
    d = PatchGAN(config=PatchGANConfig(width=4, scales=2))
    full, half = d(torch.zeros(1, 8, 256, 256), torch.zeros(1, 3, 256, 256))
    assert full[-1].shape == (1, 1, 30, 30) and half[-1].shape == (1, 1, 14, 14)


@pytest.mark.parametrize("skips", [False, True])
def test_completion_network_keeps_size_and_ignores_hole_content(skips):
    net = CompletionNetwork(config=CompletionConfig(width=4, skips=skips)).eval()
    if skips:  # trained skips, not the zeros they start from
        torch.nn.init.normal_(net.skip_full.weight), torch.nn.init.normal_(net.skip_half.weight)
    image, mask = torch.rand(1, 3, 40, 48) * 2 - 1, torch.zeros(1, 1, 40, 48)
    mask[..., 10:20, 10:30] = 1
    other = image.clone()
    other[..., 10:20, 10:30] = 0.7  # different content inside the hole
    assert net(image, mask).shape == (1, 3, 40, 48)
    assert torch.allclose(net(image, mask), net(other, mask))


def test_skips_start_at_zero_and_learn():
    from landscape.trainers.networks.glcic import grow_skips

    plain = CompletionNetwork(config=CompletionConfig(width=8, dilations=(2, 4))).train()  # fewer layers: joins move
    net = CompletionNetwork(config=CompletionConfig(width=8, dilations=(2, 4), skips=True)).train()
    net.load_state_dict(grow_skips(plain.state_dict(), 8))
    image, mask = torch.rand(2, 3, 32, 32) * 2 - 1, (torch.rand(2, 1, 32, 32) > 0.7).float()
    assert torch.equal(net(image, mask), plain(image, mask))
    net(image, mask).square().mean().backward()
    assert net.skip_full.weight.grad.abs().sum() > 0 and net.skip_half.weight.grad.abs().sum() > 0


def test_context_discriminator_has_global_and_local_branches():
    d = ContextDiscriminator(config=ContextDiscriminatorConfig(resolution=64, local_resolution=32, width=4))
    assert d(torch.zeros(2, 3, 64, 64), torch.zeros(2, 3, 32, 32)).shape == (2,)


@pytest.mark.parametrize("h,w", [(1, 1), (7, 13), (16, 16)])
def test_rrdbnet_upscales_any_size_by_four(h, w):
    net = RRDBNet(config=RRDBConfig(num_feat=8, num_grow_ch=4, num_block=2)).eval()
    assert net(torch.rand(1, 3, h, w)).shape == (1, 3, 4 * h, 4 * w)


def test_rrdb_default_is_light():
    params = sum(p.numel() for p in RRDBNet(config=RRDBConfig()).parameters())
    assert 0.5e6 < params < 1.5e6


def test_vgg_discriminator_takes_patches_of_any_size():
    d = VGGDiscriminator(config=VGGDiscriminatorConfig(width=4))
    assert d(torch.zeros(2, 3, 128, 128)).shape == (2,)
    assert d(torch.zeros(2, 3, 64, 96)).shape == (2,)


def test_family_table_names_tasks_and_rejects_unknown_options():
    assert {f.task for f in FAMILIES.values()} == {"generate", "translate", "inpaint", "upscale", "label"}
    with pytest.raises(ValueError, match="unknown esrgan network option"):
        make_config("esrgan", {"num_feats": 4})
    for name in FAMILIES:
        assert isinstance(build_network(name, make_config(name, {})), torch.nn.Module)


def test_rrdb_with_a_bicubic_skip_starts_as_bicubic():
    import torch

    from landscape.trainers.networks import build_network, make_config

    net = build_network("esrgan", make_config("esrgan", {"skip": "bicubic", "num_feat": 8, "num_grow_ch": 4, "num_block": 1})).eval()
    x = torch.rand(2, 3, 9, 13)
    with torch.no_grad():
        assert torch.allclose(net(x), torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False))
