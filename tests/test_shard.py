"""--shard K/N: N runs of the same command cover the batch exactly once, whatever path the
folder is reached by, and each shard's share is the same on every run."""
from __future__ import annotations

import pytest

from landscape.errors import UsageError
from landscape.cli.shard import in_shard, parse_shard
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


SLURM = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP", "SLURM_ARRAY_TASK_COUNT", "JOB_COMPLETION_INDEX")


def slurm(task: int, first: int, step: int | None, count: int) -> dict[str, str]:
    env = {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_MIN": str(first), "SLURM_ARRAY_TASK_COUNT": str(count)}
    if step is not None:
        env["SLURM_ARRAY_TASK_STEP"] = str(step)
    return env


@pytest.mark.parametrize("first, step, count", [(0, None, 4), (1, 1, 3), (10, 5, 4), (3, 7, 2)])
def test_auto_numbers_slurm_array_tasks_from_0(first, step, count):
    ids = [first + k * (step or 1) for k in range(count)]
    assert [parse_shard("auto", slurm(i, first, step, count)) for i in ids] == [(k, count) for k in range(count)]


@pytest.mark.parametrize("env, message", [
    (slurm(5, 1, None, 3), r"is not MIN \+ k x STEP"),  # --array=1,5,7: ids 1, 5, 7, count 3
    (slurm(12, 10, 5, 4), r"is not MIN \+ k x STEP"),  # between two steps
    ({"SLURM_ARRAY_TASK_ID": "2"}, "SLURM_ARRAY_TASK_COUNT is not set"),
    ({"JOB_COMPLETION_INDEX": "1"}, "exports no count; use --shard auto/N"),
    ({}, "no scheduler variables"),
    ({"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"}, "is not a number"),
])
def test_auto_refuses_what_it_cannot_number_in_one_line(env, message):
    with pytest.raises(UsageError, match=message) as caught:
        parse_shard("auto", env)
    assert "\n" not in str(caught.value) and ("--shard K/N" in str(caught.value) or "auto/N" in str(caught.value)
                                              or "not a number" in str(caught.value))


def test_auto_with_a_count_reads_kubernetes_indexed_jobs():
    assert [parse_shard("auto/3", {"JOB_COMPLETION_INDEX": str(k)}) for k in range(3)] == [(0, 3), (1, 3), (2, 3)]
    with pytest.raises(UsageError, match="outside 0..2"):
        parse_shard("auto/3", {"JOB_COMPLETION_INDEX": "3"})
    with pytest.raises(UsageError, match="expected auto or auto/N"):
        parse_shard("auto/x", {})


@pytest.mark.parametrize("scheduler", ["slurm-stepped", "kubernetes"])
def test_auto_shards_cover_a_batch_exactly_once(tmp_path, cli, models, monkeypatch, scheduler):
    for name in SLURM:
        monkeypatch.delenv(name, raising=False)
    seen: list[str] = []
    for k in range(3):
        if scheduler == "kubernetes":
            env, spec = {"JOB_COMPLETION_INDEX": str(k)}, "auto/3"
        else:
            env, spec = slurm(4 + 3 * k, 4, 3, 3), "auto"  # --array=4-10:3
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        res = cli("generate", "--seeds", "0-29", "--shard", spec, "-o", tmp_path / str(k), "--model", models["generate"], "-q")
        assert res.exit_code == 0, res.stderr
        seen += [line.rsplit("/", 1)[1] for line in res.stdout.split()]
    assert sorted(seen) == sorted(f"seed{s:06d}.png" for s in range(30)) and len(set(seen)) == 30


def test_auto_without_a_scheduler_is_a_usage_error(cli, models, monkeypatch):
    for name in SLURM:
        monkeypatch.delenv(name, raising=False)
    res = cli("generate", "-n", 2, "--shard", "auto", "--model", models["generate"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "--shard K/N" in res.stderr
