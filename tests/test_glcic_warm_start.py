"""scripts/glcic_warm_start.py: the bundled inpainter (transposed-conv upsampling, batch norm
folded) as a slim state of the nearest + 3x3 conv network."""
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import glcic_warm_start as warm  # noqa: E402
from tests.conftest import random_image  # noqa: E402


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


def test_the_bundled_inpainter_converts_close_to_its_onnx_file(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from landscape.trainers.checkpoint import load_checkpoint, module_state
    from landscape.trainers.networks.glcic import CompletionConfig, CompletionNetwork

    import cv2

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):  # smooth pictures, for the batch norms' statistics
        cv2.imwrite(str(photos / f"{i}.png"), cv2.GaussianBlur(random_image(96, 128, seed=i), (0, 0), 3))
    state = tmp_path / "glcic.safetensors"
    assert warm.main(["-o", str(state), "--", "--data", str(photos), "--g-width", "64", "--resolution", "64",
                      "--holdout", "0"]) == 0
    tensors, saved = load_checkpoint(state)
    assert saved["slim"]["kept"] == ["g"] and saved["train_state"]["step"] == 0
    net = CompletionNetwork(config=CompletionConfig(**saved["network"]))
    net.load_state_dict({k: v.float() for k, v in module_state(tensors, "g").items()})
    net.eval()
    # A picture like the calibration's: in training mode the batch's own statistics are used.
    smooth = cv2.GaussianBlur(random_image(64, 96, seed=7), (0, 0), 3)
    image = torch.from_numpy(smooth.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1)
    mask = torch.zeros(1, 1, 64, 96)
    mask[..., 16:40, 24:64] = 1
    session = ort.InferenceSession(str(warm.BUNDLED), providers=["CPUExecutionProvider"])
    reference = session.run(None, {"image": image.numpy(), "mask": mask.numpy()})[0]
    for mode in ("eval", "train"):  # stored statistics, and each batch's own (training)
        getattr(net, mode)()
        with torch.no_grad():
            converted = net(image, mask).numpy()
        mse = float(((converted - reference) ** 2).mean())
        assert 10 * np.log10(4 / mse) > 18, mode  # the upsampling is fitted, not exact
