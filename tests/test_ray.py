"""landscape.ray on a local Ray cluster of 2 CPUs: its outputs equal the command line's."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import landscape
import landscape.ray
from tests.conftest import random_image, write_png

ray = pytest.importorskip("ray", reason="landscape[ray] is not installed")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    # address="local": a new cluster of our own, even where a stale /tmp/ray/ray_current_cluster names another
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture()
def folder(tmp_path) -> Path:
    """Pictures of mixed sizes and modes: each batch of 2 is ragged."""
    photos = tmp_path / "photos"
    write_png(photos / "a.png", random_image(20, 24, seed=1))
    write_png(photos / "b.png", random_image(16, 28, seed=2))
    Image.fromarray(random_image(24, 20, 4, seed=3), "RGBA").save(photos / "c.png")
    write_png(photos / "d.png", random_image(20, 24, seed=4))
    return photos


def by_path(rows: list[dict]) -> dict[str, np.ndarray]:
    return {Path(row["path"]).name: row["image"] for row in rows}


def test_upscale_on_ray_equals_the_cli(cluster, folder, tmp_path, cli, models):
    res = cli("upscale", folder, "-o", tmp_path / "out", "--model", models["upscale"], "--tile", 16, "--tile-pad", 4,
              "--strip-metadata")
    assert res.exit_code == 0, res.stderr
    ds = ray.data.read_images(str(folder), include_paths=True)
    rows = ds.map_batches(landscape.ray.Upscale, concurrency=1, num_cpus=1, batch_size=2,
                          fn_constructor_kwargs={"model": str(models["upscale"]), "tile": 16, "tile_pad": 4}).take_all()
    outputs = by_path(rows)
    assert sorted(outputs) == ["a.png", "b.png", "c.png", "d.png"]
    for name, image in outputs.items():
        expected = landscape.read(tmp_path / "out" / name)
        assert image.shape == expected.shape and np.array_equal(image, expected), name


def test_label_on_ray_equals_the_cli_and_writes_with_rays_writer(cluster, folder, tmp_path, cli, models):
    res = cli("label", folder, "--index", "-o", tmp_path / "maps", "--model", models["label"])
    assert res.exit_code == 0, res.stderr
    ds = ray.data.read_images(str(folder), include_paths=True, mode="RGB")
    labelled = ds.map_batches(landscape.ray.Label, concurrency=1, batch_size=3,
                              fn_constructor_kwargs={"model": str(models["label"])})
    for name, labels in by_path(labelled.take_all()).items():
        assert labels.dtype == np.uint8 and np.array_equal(labels, landscape.read(tmp_path / "maps" / name)[:, :, 0]), name
    coloured = ds.map_batches(landscape.ray.Label, concurrency=1, batch_size=3,
                              fn_constructor_kwargs={"model": str(models["label"]), "colour": True})
    coloured.write_images(str(tmp_path / "ray_maps"), column="image", file_format="png")
    assert len(list((tmp_path / "ray_maps").glob("*.png"))) == 4


def test_generate_on_ray_equals_the_api(cluster, models):
    rows = ray.data.range(5).map_batches(landscape.ray.Generate, concurrency=1, batch_size=2,
                                         fn_constructor_kwargs={"model": str(models["generate"])}).take_all()
    expected = landscape.Generator(models["generate"])(seeds=range(5))
    assert sorted(int(r["id"]) for r in rows) == list(range(5))
    for row in rows:
        assert np.array_equal(row["image"], expected[int(row["id"])])


def test_the_readme_ray_example_runs(tmp_path):
    from tests.test_api import readme_example, run_example

    res = run_example(readme_example("Run on a Ray cluster") + "\nprint('DONE')\n", tmp_path)
    assert res.returncode == 0 and "DONE" in res.stdout, res.stderr[-2000:]
    written = sorted((tmp_path / "upscaled-ray").glob("*.png"))
    assert len(written) == 3 and all(landscape.read(p).shape == (960, 1280, 3) for p in written)


def test_actors_take_the_threads_ray_gave_them(cluster):
    assert landscape.ray.placed({}) == {"threads": 0}  # outside an actor: one per core
    assert landscape.ray.placed({"threads": 3}) == {"threads": 3}
    on_one = ray.remote(num_cpus=1)(lambda: landscape.ray.placed({}))
    on_two = ray.remote(num_cpus=2)(lambda: landscape.ray.placed({"tile": 64}))
    assert ray.get(on_one.remote()) == {"threads": 1}
    assert ray.get(on_two.remote()) == {"tile": 64, "threads": 2}
