"""The family table: each family's task, its inference network and that network's config.

A checkpoint names its family and carries the network config as JSON; `build_network`
turns the two back into the module, so a checkpoint alone rebuilds its network.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from landscape.trainers.checkpoint import load_checkpoint, module_state

from landscape.trainers.networks.dcgan import GeneratorConfig, build_generator
from landscape.trainers.networks.esrgan import RRDBConfig, RRDBNet
from landscape.trainers.networks.glcic import CompletionConfig, CompletionNetwork
from landscape.trainers.networks.pix2pix import UNetConfig, UNetGenerator
from landscape.trainers.networks.segmenter import SegmenterConfig, UNetSegmenter
from landscape.trainers.networks.span import SPANConfig, SPANNet


@dataclass(frozen=True)
class Family:
    name: str
    task: str
    config_type: type
    build: Callable[[Any], nn.Module]


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("dcgan", "generate", GeneratorConfig, build_generator),
        Family("pix2pix", "translate", UNetConfig, lambda c: UNetGenerator(config=c)),
        Family("glcic", "inpaint", CompletionConfig, lambda c: CompletionNetwork(config=c)),
        Family("esrgan", "upscale", RRDBConfig, lambda c: RRDBNet(config=c)),
        Family("span", "upscale", SPANConfig, lambda c: SPANNet(config=c)),
        Family("segmenter", "label", SegmenterConfig, lambda c: UNetSegmenter(config=c)),
    )
}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}") from None


def make_config(family: str, values: dict[str, Any]) -> Any:
    """A config dataclass from JSON values; unknown keys are an error, not ignored."""
    config_type = get_family(family).config_type
    known = {f.name for f in dataclasses.fields(config_type)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {family} network option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return config_type(**values)


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def build_network(family: str, config: Any) -> nn.Module:
    return get_family(family).build(config)


def network_from_checkpoint(path) -> tuple[nn.Module, Any, dict[str, Any]]:
    """(the inference network with the checkpoint's weights, its network config, the
    checkpoint's own config). Raises CheckpointError, KeyError or ValueError on a bad file."""
    tensors, checkpoint = load_checkpoint(path)
    config = make_config(checkpoint["family"], checkpoint["network"])
    net = build_network(checkpoint["family"], config)
    net.load_state_dict(module_state(tensors, checkpoint["weights"]), strict=True)
    return net, config, checkpoint
