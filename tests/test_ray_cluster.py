"""landscape.ray on a cluster of three nodes (Ray's cluster utilities: each node its own raylet
process) that loses a worker node mid-run, and the driver-side check that keeps an actor's start
from failing with a traceback."""
from pathlib import Path

import numpy as np
import pytest

import landscape
import landscape.ray
from landscape.errors import ModelError, UsageError
from tests.conftest import random_image, write_png

ray = pytest.importorskip("ray", reason="landscape[ray] is not installed")
pytestmark = pytest.mark.slow

PICTURES = 200


@pytest.fixture()
def three_nodes():
    """A head (the driver's reads) and two worker nodes of one CPU, which alone carry the
    custom resource "worker" that the upscaling actors ask for."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    workers = [cluster.add_node(num_cpus=1, resources={"worker": 1}) for _ in range(2)]
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    cluster.wait_for_nodes()
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield cluster, workers
    ray.shutdown()
    cluster.shutdown()


def test_an_upscale_survives_losing_a_worker_node(three_nodes, tmp_path, cli, models):
    cluster, workers = three_nodes
    photos = tmp_path / "photos"
    for i in range(PICTURES):
        write_png(photos / f"{i:03d}.png", random_image(12, 16, seed=i))
    res = cli("upscale", photos, "-o", tmp_path / "cli", "--model", models["upscale"], "--tile", 0, "--strip-metadata")
    assert res.exit_code == 0, res.stderr

    ds = ray.data.read_images(str(photos), include_paths=True, override_num_blocks=50).map_batches(
        landscape.ray.Upscale, compute=ray.data.ActorPoolStrategy(size=2), num_cpus=1, resources={"worker": 1},
        batch_size=4, fn_constructor_kwargs=landscape.ray.Upscale.checked(models["upscale"], tile=0))
    outputs: dict[str, list[np.ndarray]] = {}
    for row in ds.iter_rows():
        outputs.setdefault(Path(row["path"]).name, []).append(row["image"])
        if sum(map(len, outputs.values())) == PICTURES // 5:
            # No goodbye: the node's raylet and its actor are killed, as a lost machine would be.
            cluster.remove_node(workers[0], allow_graceful=False)
            cluster.add_node(num_cpus=1, resources={"worker": 1})

    assert sorted(outputs) == sorted(p.name for p in photos.iterdir())
    assert all(len(images) == 1 for images in outputs.values()), "an input came out twice"
    for name, (image,) in outputs.items():
        assert np.array_equal(image, landscape.read(tmp_path / "cli" / name)), name


def test_a_missing_model_fails_on_the_driver_in_one_line(tmp_path, models):
    missing = tmp_path / "no-such.onnx"
    with pytest.raises(ModelError) as caught:
        landscape.ray.Upscale.checked(missing, tile=64)
    assert str(caught.value) == f"{missing}: no such model file"
    with pytest.raises(ModelError, match="cannot be used for 'upscale'"):
        landscape.ray.Upscale.checked(models["label"])
    with pytest.raises(UsageError, match="tile must be >= 0"):
        landscape.ray.Upscale.checked(models["upscale"], tile=-1)
    with pytest.raises(UsageError, match="--device must be one of"):
        landscape.ray.Inpaint.checked(models["inpaint"], device="gpu")
    # Placement is the node's business: a CUDA actor can be checked on a driver without CUDA.
    assert landscape.ray.Generate.checked(models["generate"], device="cuda", upscale=True) == {
        "model": str(models["generate"]), "device": "cuda", "upscale": True}
    assert landscape.ray.Label.checked(colour=True) == {"model": None, "colour": True}
