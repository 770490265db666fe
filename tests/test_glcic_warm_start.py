"""scripts/glcic_warm_start.py: an inpainter's ONNX file (transposed-conv upsampling, batch norm
folded) or a slim state, as a slim state of today's network (nearest + 3x3 conv, skips)."""
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[1]

from scripts import glcic_warm_start as warm
from tests.conftest import random_image


def transposed_of(v: np.ndarray) -> np.ndarray:
    """The 4x4 stride-2 transposed kernel that computes exactly what nearest x2 + the 3x3
    kernel v computes (each tap of v summed into the transposed taps it reaches)."""
    c_out, c_in = v.shape[:2]
    t = np.zeros((c_in, c_out, 4, 4))
    for a in (0, 1):
        for d in (-1, 0, 1):
            for b in (0, 1):
                for e in (-1, 0, 1):
                    ky, kx = 1 + a - 2 * d, 1 + b - 2 * e
                    taps = [(ty, tx) for ty in range(3) for tx in range(3) if (a - 1 + ty) // 2 == d and (b - 1 + tx) // 2 == e]
                    if taps and 0 <= ky < 4 and 0 <= kx < 4:
                        t[:, :, ky, kx] = sum(v[:, :, ty, tx].T for ty, tx in taps)
    return t


def test_the_fit_recovers_a_kernel_that_nearest_resizing_can_express():
    v = np.random.default_rng(0).standard_normal((5, 3, 3, 3))
    fitted = warm.nearest_conv_kernel(transposed_of(v))
    up = torch.nn.Upsample(scale_factor=2, mode="nearest")
    x = torch.randn(1, 3, 9, 11)
    expected = torch.nn.functional.conv_transpose2d(x, torch.from_numpy(transposed_of(v)).float(), stride=2, padding=1)
    got = torch.nn.functional.conv2d(up(x), torch.from_numpy(fitted), padding=1)
    assert torch.allclose(got, expected, atol=1e-4)


def photo_folder(tmp_path: Path) -> Path:
    import cv2

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):  # smooth pictures, for the batch norms' statistics
        cv2.imwrite(str(photos / f"{i}.png"), cv2.GaussianBlur(random_image(96, 128, seed=i), (0, 0), 3))
    return photos


def trained_like(net):
    """A network whose batch norms hold statistics and affine terms of their own, as a trained one's."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.2, 0.2, generator=gen)
        net.train()
        for _ in range(3):
            net(torch.rand(4, 3, 64, 96, generator=gen) * 2 - 1, (torch.rand(4, 1, 64, 96, generator=gen) > 0.8).float())
    return net.eval()


def load_g(state: Path):
    from landscape.trainers.checkpoint import load_checkpoint, module_state
    from landscape.trainers.networks.glcic import CompletionConfig, CompletionNetwork

    tensors, saved = load_checkpoint(state)
    net = CompletionNetwork(config=CompletionConfig(**saved["network"]))
    net.load_state_dict({k: v.float() for k, v in module_state(tensors, "g").items()})
    return net.eval(), saved


def test_an_onnx_file_of_a_network_without_skips_converts_close_to_it(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    import cv2
    from landscape.trainers.networks.glcic import CompletionConfig, CompletionNetwork

    old = trained_like(CompletionNetwork(config=CompletionConfig(width=8, resolution=64)))
    onnx_file = tmp_path / "old.onnx"
    torch.onnx.export(old, (torch.zeros(1, 3, 64, 96), torch.zeros(1, 1, 64, 96)), str(onnx_file), dynamo=False,
                      input_names=["image", "mask"], output_names=["completed"])  # eval mode: batch norms folded
    assert not {"BatchNormalization"} & {n.op_type for n in warm.onnx.load(str(onnx_file)).graph.node}
    state = tmp_path / "glcic.safetensors"
    assert warm.main(["--onnx", str(onnx_file), "-o", str(state), "--", "--data", str(photo_folder(tmp_path)),
                      "--g-width", "8", "--resolution", "64", "--holdout", "0"]) == 0
    net, saved = load_g(state)
    assert saved["slim"]["kept"] == ["g"] and saved["train_state"]["step"] == 0 and saved["network"]["skips"]
    # A picture like the calibration's: in training mode the batch's own statistics are used.
    smooth = cv2.GaussianBlur(random_image(64, 96, seed=7), (0, 0), 3)
    image = torch.from_numpy(smooth.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1)
    mask = torch.zeros(1, 1, 64, 96)
    mask[..., 16:40, 24:64] = 1
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    reference = session.run(None, {"image": image.numpy(), "mask": mask.numpy()})[0]
    with torch.no_grad():
        converted = net(image, mask).numpy()
    assert 10 * np.log10(4 / float(((converted - reference) ** 2).mean())) > 40  # stored statistics: the file's function
    net.train()  # each batch's own statistics: close to the calibration's on a picture like its crops
    with torch.no_grad():
        converted = net(image, mask).numpy()
    assert 10 * np.log10(4 / float(((converted - reference) ** 2).mean())) > 18


def test_a_state_without_skips_grows_them_at_zero_and_keeps_its_function(tmp_path):
    from landscape.trainers.networks import config_to_dict
    from landscape.trainers.networks.glcic import CompletionConfig, CompletionNetwork
    from landscape.trainers.slim import write_slim_state

    old = trained_like(CompletionNetwork(config=CompletionConfig(width=8, resolution=64)))
    old_state = write_slim_state(tmp_path / "old.safetensors", "glcic", {"g": old.state_dict()},
                                 {"family": "glcic", "network": config_to_dict(old.config), "weights": "g", "train": {}},
                                 "old")
    grown_state = tmp_path / "grown.safetensors"
    data = photo_folder(tmp_path)
    assert warm.main(["--state", str(old_state), "-o", str(grown_state), "--", "--data", str(data), "--g-width", "8",
                      "--resolution", "64", "--holdout", "0"]) == 0
    net, saved = load_g(grown_state)
    assert saved["network"]["skips"] and not net.skip_full.weight.any() and not net.skip_half.weight.any()
    image, mask = torch.rand(2, 3, 64, 96) * 2 - 1, (torch.rand(2, 1, 64, 96) > 0.7).float()
    with torch.no_grad():  # the slim state keeps fp16 weights: equal to that precision
        assert torch.allclose(net(image, mask), old(image, mask), atol=2e-2)
    # A state with skips is written again as it is; one the recipe cannot hold is refused.
    again = tmp_path / "again.safetensors"
    assert warm.main(["--state", str(grown_state), "-o", str(again), "--", "--data", str(data), "--g-width", "8",
                      "--resolution", "64", "--holdout", "0"]) == 0
    twice, _ = load_g(again)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), twice.state_dict().values()))
    with pytest.raises(ValueError, match="cannot continue"):
        warm.main(["--state", str(grown_state), "-o", str(tmp_path / "x.safetensors"), "--", "--data", str(data),
                   "--g-width", "8", "--resolution", "64", "--no-skips"])
