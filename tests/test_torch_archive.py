"""TorchScript archives (IOPaint's big-lama.pt layout) give their weights without TorchScript
being loaded, and an archive whose pickle names anything else is refused unrun."""
import io
import pickle
import zipfile

import pytest
import torch

from landscape.trainers.checkpoint import WeightsError, read_weights
from landscape.trainers.torch_archive import is_script_archive, read_script_weights


class Small(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
        self.head = torch.nn.Conv2d(4, 3, 1).half()

    def forward(self, x):
        return self.head(self.body(x).half())


def test_a_traced_module_gives_its_state_dict(tmp_path):
    torch.manual_seed(0)
    net = Small().eval()
    path = tmp_path / "small.pt"
    torch.jit.trace(net, torch.rand(1, 3, 8, 8), check_trace=False).save(str(path))
    assert is_script_archive(path)
    state = read_weights(path)
    expected = net.state_dict()
    assert sorted(state) == sorted(expected)
    for name, tensor in expected.items():
        assert state[name].dtype == tensor.dtype and torch.equal(state[name], tensor), name


def test_a_plain_torch_save_is_not_taken_for_an_archive(tmp_path):
    path = tmp_path / "plain.ckpt"
    torch.save({"state_dict": Small().state_dict()}, path)
    assert not is_script_archive(path)
    assert "state_dict" in read_weights(path)


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_an_archive_whose_pickle_names_code_is_refused_unrun(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "hostile.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", pickle.dumps(_Payload(), protocol=2))
        archive.writestr("model/constants.pkl", pickle.dumps((), protocol=2))
    with pytest.raises(WeightsError, match="names posix.system|names os.system"):
        read_weights(path)
    assert not (tmp_path / "PWNED").exists()


def test_a_tensor_past_its_storage_is_refused(tmp_path):
    """A view whose size runs past the bytes the archive holds: one line, no out-of-bounds read."""
    torch.manual_seed(0)
    path = tmp_path / "small.pt"
    torch.jit.trace(Small().eval(), torch.rand(1, 3, 8, 8), check_trace=False).save(str(path))
    damaged = tmp_path / "damaged.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(damaged, "w") as out:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith("/data/0"):
                data = data[:4]  # the first storage cut to one float
            out.writestr(name, data)
    with pytest.raises(WeightsError, match="a tensor of 108 elements on a storage of 1"):
        read_weights(damaged)


def test_read_script_weights_reads_from_any_root_name(tmp_path):
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.trace(Small().eval(), torch.rand(1, 3, 8, 8), check_trace=False), buffer)
    path = tmp_path / "renamed.pt"
    path.write_bytes(buffer.getvalue())
    assert len(read_script_weights(path)) == len(Small().state_dict())


def test_a_training_checkpoint_with_foreign_objects_gives_its_generator(tmp_path, monkeypatch):
    """LaMa's best.ckpt layout: PyTorch Lightning's dict with hyper-parameters as objects of
    other libraries (OmegaConf) and the discriminator's and losses' weights beside the
    generator's. The weights-only unpickler refuses it; it is read with those objects inert."""
    import argparse

    from landscape.export.imported import read_state_dict

    monkeypatch.chdir(tmp_path)
    generator = {f"generator.{k}": v for k, v in Small().state_dict().items()}
    state = {**generator, "discriminator.conv.weight": torch.zeros(2), "loss_resnet_pl.impl.weight": torch.zeros(2)}
    path = tmp_path / "best.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": argparse.Namespace(payload=_Payload()), "epoch": 3}, path)
    read = read_state_dict(path)
    assert sorted(read) == sorted(generator)
    assert all(torch.equal(read[k], v) for k, v in generator.items())
    assert not (tmp_path / "PWNED").exists()  # the payload's os.system was never called


def _foreign_checkpoint(path, **extra) -> None:
    """A torch.save archive that the weights-only unpickler refuses (a foreign object beside the
    weights), so that it is read by ours."""
    import argparse

    torch.save({"state_dict": {"w": torch.ones(2)}, "hyper_parameters": argparse.Namespace(a=1), **extra}, path)


def test_references_shared_thousands_of_ways_are_walked_once(tmp_path):
    """40 levels of lists each holding the one below twice: 2^40 paths, 40 objects."""
    import subprocess
    import sys

    shared: list = []
    for _ in range(40):
        shared = [shared, shared]
    path = tmp_path / "shared.ckpt"
    _foreign_checkpoint(path, junk=shared)
    code = f"from landscape.trainers.checkpoint import read_weights; from pathlib import Path; print(sorted(read_weights(Path({str(path)!r}))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "state_dict" in done.stdout, done.stderr


def test_a_compressed_entry_is_refused_before_it_inflates(tmp_path):
    """A storage of 256 MB of zeros deflated to a few hundred KB: refused unread."""
    plain = tmp_path / "plain.ckpt"
    _foreign_checkpoint(plain)
    bomb = tmp_path / "deflated.ckpt"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            storage = "/data/" in info.filename and not info.filename.endswith(".pkl")
            out.writestr(info.filename, bytes(256 << 20) if storage else src.read(info))
    assert bomb.stat().st_size < 4 << 20
    with pytest.raises(WeightsError, match="is compressed"):
        read_weights(bomb)


def test_a_tensor_bigger_than_its_storage_is_refused(tmp_path):
    """A stride-0 view of one float standing for a billion: refused, nothing allocated."""
    path = tmp_path / "expanded.ckpt"
    _foreign_checkpoint(path, extra_weights={"huge": torch.zeros(1).expand(10**9)})
    with pytest.raises(WeightsError, match="1,000,000,000 elements on a storage of 1"):
        read_weights(path)
