"""The lecture's "well known CNNs" as Flax linen classifiers (chapter 2), one module per family.

  layers     shared blocks: adaptive average pool, local response norm, ceil max pool, the
             AlexNet/VGG classifier head, the Toeplitz (banded-matmul) convolution layer
  lenet      LeNet-5 (LeCun et al. 1998)
  alexnet    AlexNet (Krizhevsky et al. 2012), ZFNet (Zeiler and Fergus 2013)
  vgg        VGG11/13/16/19 (Simonyan and Zisserman 2014)
  googlenet  GoogLeNet / Inception v1 (Szegedy et al. 2014)
  resnet     ImageNet ResNet-18/34/50 and CIFAR ResNet-20/32/44/56 (He et al. 2016)

Every model follows the project's classifier contract:

* ``Model(num_classes=...)``, ``model.apply(variables, x, train=...)`` -> logits;
* inputs are float NHWC images;
* batch norm lives in the ``batch_stats`` collection and dropout draws from the ``'dropout'`` rng
  stream, through ``dl_jax.models.layers`` (global-batch statistics and masks in every
  data-parallel mode).

Parameter counts (``params`` collection only, i.e. weights and biases plus batch-norm scale and
offset, never running statistics) are stated per class for the default ``num_classes`` and are
asserted in ``tests/test_cnn_models.py``.  Where a paper leaves freedom, the choice follows the
torchvision model so the counts can be checked against an independent reference.

Models whose classifier expects a fixed grid (AlexNet, ZFNet, VGG) put an adaptive average pool
in front of it, as torchvision does: at the canonical 224x224 input it is the identity, and it
lets the same weights run on small images (tests use 32x32 or 64x64).
"""

from __future__ import annotations

import flax.linen as nn

from dl_jax.models.cnn.alexnet import AlexNet, ZFNet
from dl_jax.models.cnn.googlenet import GoogLeNet, Inception
from dl_jax.models.cnn.layers import (
    ToeplitzConv,
    adaptive_avg_pool,
    local_response_norm,
    max_pool_ceil,
)
from dl_jax.models.cnn.lenet import LeNet5, fastest_conv_form
from dl_jax.models.cnn.resnet import (
    BasicBlock,
    BottleneckBlock,
    CifarResNet,
    ResNet,
    ResNet18,
    ResNet20,
    ResNet32,
    ResNet34,
    ResNet44,
    ResNet50,
    ResNet56,
)
from dl_jax.models.cnn.vgg import VGG, VGG11, VGG13, VGG16, VGG19

__all__ = [
    "CNN_ZOO",
    "VGG",
    "VGG11",
    "VGG13",
    "VGG16",
    "VGG19",
    "AlexNet",
    "BasicBlock",
    "BottleneckBlock",
    "CifarResNet",
    "GoogLeNet",
    "Inception",
    "LeNet5",
    "ResNet",
    "ResNet18",
    "ResNet20",
    "ResNet32",
    "ResNet34",
    "ResNet44",
    "ResNet50",
    "ResNet56",
    "ToeplitzConv",
    "ZFNet",
    "adaptive_avg_pool",
    "fastest_conv_form",
    "local_response_norm",
    "max_pool_ceil",
]

CNN_ZOO: dict[str, type[nn.Module]] = {
    "lenet5": LeNet5,
    "alexnet": AlexNet,
    "zfnet": ZFNet,
    "vgg11": VGG11,
    "vgg13": VGG13,
    "vgg16": VGG16,
    "vgg19": VGG19,
    "googlenet": GoogLeNet,
    "resnet18": ResNet18,
    "resnet34": ResNet34,
    "resnet50": ResNet50,
    "resnet20": ResNet20,
    "resnet32": ResNet32,
    "resnet44": ResNet44,
    "resnet56": ResNet56,
}
"""Lowercase model name -> class; every entry is built as ``CNN_ZOO[name](num_classes=k)``."""
