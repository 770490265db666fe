"""--shard K/N: N runs of the same command cover the batch exactly once, whatever path the
folder is reached by, and each shard's share is the same on every run."""
from __future__ import annotations

import pytest

from landscape_cli.errors import UsageError
from landscape_cli.shard import in_shard, parse_shard
from tests.conftest import random_image, write_png


def test_parse_shard():
    assert parse_shard(None) is None
    assert parse_shard("0/1") == (0, 1) and parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "-1/2", "1/0", "1", "a/b", "1/2/3"):
        with pytest.raises(UsageError):
            parse_shard(bad)


def test_every_key_lands_in_exactly_one_shard_and_shares_are_even():
    keys = [f"sub/{i:05d}.jpg" for i in range(4000)]
    counts = []
    for k in range(4):
        counts.append(sum(in_shard(key, (k, 4)) for key in keys))
    assert sum(counts) == len(keys)
    assert all(abs(c - 1000) < 120 for c in counts), counts
    assert all(sum(in_shard(key, (k, 3)) for k in range(3)) == 1 for key in keys[:200])


@pytest.mark.parametrize("command", ["upscale", "translate", "inpaint"])
def test_shards_cover_a_folder_exactly_once(tmp_path, cli, models, command):
    folder = tmp_path / "photos"
    for i in range(12):
        write_png(folder / ("sub" if i % 2 else "") / f"{i:02d}.png", random_image(8, 8, seed=i) // 32 * 32)
        write_png(folder / ("sub" if i % 2 else "") / f"{i:02d}_mask.png", random_image(8, 8, 1, seed=i)[:, :, 0])
    # The same folder through a symbolic link: keys are relative paths, so the split is the same.
    (tmp_path / "elsewhere").symlink_to(folder)
    extra = ["--tolerance", "442"] if command == "translate" else []
    if command != "inpaint":
        for mask in folder.rglob("*_mask.png"):
            mask.unlink()
    full = cli(command, folder, "-r", "-o", tmp_path / "full", "--model", models[command], *extra)
    assert full.exit_code == 0, full.stderr
    everything = sorted(p.name for p in (tmp_path / "full").iterdir())
    assert len(everything) == 12
    names = []
    for k in range(3):
        root = folder if k % 2 else tmp_path / "elsewhere"
        part = cli(command, root, "-r", "-o", tmp_path / f"s{k}", "--model", models[command], "--shard", f"{k}/3", *extra)
        assert part.exit_code == 0, part.stderr
        names += [p.name for p in (tmp_path / f"s{k}").iterdir()]
    assert sorted(names) == everything


def test_generate_shards_seeds(tmp_path, cli, models):
    seen = []
    for k in range(4):
        res = cli("generate", "--seeds", "0-19", "--shard", f"{k}/4", "-o", tmp_path, "--model", models["generate"], "-q")
        assert res.exit_code == 0, res.stderr
        seen += res.stdout.split()
    assert sorted(seen) == sorted(str(tmp_path / f"seed{s:06d}.png") for s in range(20))
    assert cli("generate", "-n", 2, "--shard", "2/2", "--model", models["generate"]).exit_code == 2
