"""OFA's image embedding: a ResNet stem and its first three stages (stride 16), from timm blocks.

OFA keeps only ``layer1..layer3`` of a ResNet (no ``layer4``, no head), so a 480 px image
becomes a 30 x 30 grid of 1024-channel features. Module names match OFA's checkpoints
(``conv1``, ``bn1``, ``layer{1,2,3}.{j}.{conv,bn}{1,2,3}``, ``layer{s}.0.downsample.{0,1}``).

With ``frozen_batch_norm`` (OFA's ``--freeze-resnet``) the BatchNorm layers keep the
checkpoint's statistics and affine parameters while the rest trains: they normalise with
the stored statistics in training too, so every data-parallel process computes the same
thing and no process's batch statistics are lost when rank 0 saves the checkpoint.
"""
from __future__ import annotations

from typing import Sequence

import torch
from timm.layers import DropPath
from timm.models.resnet import Bottleneck
from torch import Tensor, nn

RESNET_STAGE_BLOCKS = {
    "resnet50": (3, 4, 6),
    "resnet101": (3, 4, 23),
    "resnet152": (3, 8, 36),
}


class ResNetEmbedding(nn.Module):
    """ResNet stem + three Bottleneck stages; ``forward`` maps ``[B, 3, H, W]`` to ``[B, C, H/16, W/16]``."""

    def __init__(self, stage_blocks: Sequence[int], drop_path_rate: float = 0.0, base_channels: int = 64,
                 frozen_batch_norm: bool = False):
        super().__init__()
        self.frozen_batch_norm = frozen_batch_norm
        if len(stage_blocks) != 3:
            raise ValueError(f"OFA's image embedding has 3 ResNet stages, got {list(stage_blocks)}")
        self.conv1 = nn.Conv2d(3, base_channels, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = base_channels
        for index, blocks in enumerate(stage_blocks):
            planes = base_channels * 2**index
            stage = _make_stage(in_channels, planes, blocks, stride=1 if index == 0 else 2, drop_path_rate=drop_path_rate)
            self.add_module(f"layer{index + 1}", stage)
            in_channels = planes * Bottleneck.expansion
        self.out_channels = in_channels
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
                module.requires_grad_(not frozen_batch_norm)

    def train(self, mode: bool = True) -> "ResNetEmbedding":
        """``nn.Module.train``, except that frozen BatchNorm layers stay in eval mode."""
        super().train(mode)
        if self.frozen_batch_norm:
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
        return self

    def forward(self, images: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        return self.layer3(self.layer2(self.layer1(x)))


def _make_stage(in_channels: int, planes: int, blocks: int, stride: int, drop_path_rate: float) -> nn.Sequential:
    """One stage; block ``i`` gets drop path ``linspace(0, rate, blocks)[i]`` (so block 0 none), as in OFA."""
    out_channels = planes * Bottleneck.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )
    rates = torch.linspace(0, drop_path_rate, blocks, device="cpu").tolist()
    layers = [Bottleneck(in_channels, planes, stride=stride, downsample=downsample)]
    for index in range(1, blocks):
        drop_path = DropPath(rates[index]) if rates[index] > 0 else None
        layers.append(Bottleneck(out_channels, planes, drop_path=drop_path))
    return nn.Sequential(*layers)


def resnet_embedding(resnet_type: str, drop_path_rate: float = 0.0, base_channels: int = 64,
                     frozen_batch_norm: bool = False) -> ResNetEmbedding:
    """OFA's image embedding for ``resnet50``/``resnet101``/``resnet152``, or a custom ``"resnet:a,b,c"``."""
    if resnet_type.startswith("resnet:"):
        blocks = tuple(int(n) for n in resnet_type.split(":", 1)[1].split(","))
    elif resnet_type in RESNET_STAGE_BLOCKS:
        blocks = RESNET_STAGE_BLOCKS[resnet_type]
    else:
        raise ValueError(f"unknown resnet type {resnet_type!r}: use one of {sorted(RESNET_STAGE_BLOCKS)} or 'resnet:a,b,c'")
    return ResNetEmbedding(blocks, drop_path_rate=drop_path_rate, base_channels=base_channels,
                           frozen_batch_norm=frozen_batch_norm)
