"""Per-example training augmentations: ``augment(keys[N], images[N, H, W, C]) -> images``.

They run inside the jitted train step (see ``dl_jax.training.steps.make_train_step``), one key
per example derived from the example's position in the global batch, so augmentation is
reproducible and does not depend on the number of devices.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.scipy import ndimage


def affine_warp(image, shift, angle, scale, shear):
    """Warps one (H, W, C) image about its centre, bilinear, zero fill.

    Args:
      image: (H, W, C) array.
      shift: (2,) translation in pixels (rows, cols); content moves by +shift.
      angle: rotation in radians.
      scale: isotropic zoom factor (> 1 enlarges the content).
      shear: horizontal shear coefficient.

    Returns:
      The warped image, same shape.
    """
    height, width, _ = image.shape
    # Output pixel p samples the input at A (p - c - shift) + c, A the inverse warp.
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    inverse = jnp.array([[cos, -sin], [sin, cos]]) @ jnp.array([[1.0, shear], [0.0, 1.0]]) / scale
    rows, cols = jnp.meshgrid(jnp.arange(height), jnp.arange(width), indexing="ij")
    centre = jnp.array([(height - 1) / 2.0, (width - 1) / 2.0])
    grid = jnp.stack([rows.ravel(), cols.ravel()]) - centre[:, None] - jnp.asarray(shift)[:, None]
    source = inverse @ grid + centre[:, None]
    channels = [
        ndimage.map_coordinates(image[..., c], [source[0], source[1]], order=1, cval=0.0)
        for c in range(image.shape[-1])
    ]
    return jnp.stack(channels, axis=-1).reshape(image.shape)


def _affine_one(key, image, max_shift, max_rotation, max_scale, max_shear):
    k_shift, k_rot, k_scale, k_shear = jax.random.split(key, 4)
    shift = jax.random.uniform(k_shift, (2,), minval=-max_shift, maxval=max_shift)
    angle = jnp.deg2rad(jax.random.uniform(k_rot, (), minval=-max_rotation, maxval=max_rotation))
    scale = 1.0 + jax.random.uniform(k_scale, (), minval=-max_scale, maxval=max_scale)
    shear = jax.random.uniform(k_shear, (), minval=-max_shear, maxval=max_shear)
    return affine_warp(image, shift, angle, scale, shear)


def random_affine(max_shift: float = 2.0, max_rotation: float = 10.0, max_scale: float = 0.1,
                  max_shear: float = 0.1):
    """LeCun-style distortions: random shift (pixels), rotation (degrees), scale and shear.

    Returns:
      ``augment(keys, images) -> images``.
    """
    one = functools.partial(_affine_one, max_shift=max_shift, max_rotation=max_rotation,
                            max_scale=max_scale, max_shear=max_shear)
    return jax.vmap(one)


def _crop_flip_one(key, image, pad):
    k_crop, k_flip = jax.random.split(key)
    height, width, _ = image.shape
    padded = jnp.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    offsets = jax.random.randint(k_crop, (2,), 0, 2 * pad + 1)
    crop = jax.lax.dynamic_slice(padded, (offsets[0], offsets[1], 0), image.shape)
    return jnp.where(jax.random.bernoulli(k_flip), crop[:, ::-1], crop)


def random_crop_flip(pad: int = 4):
    """He et al. (2016) CIFAR augmentation: pad by ``pad``, random crop back, random h-flip."""
    return jax.vmap(functools.partial(_crop_flip_one, pad=pad))


AUGMENTATIONS = {"none": None, "affine": random_affine, "crop_flip": random_crop_flip}
