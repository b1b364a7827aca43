"""Tests for dl_jax.ops: the lecture's worked examples, reference-vs-lax agreement, errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dl_jax import ops

# ---------------------------------------------------------------------------------------------
# Worked examples of the lecture
# ---------------------------------------------------------------------------------------------

BINARY_IMAGE = np.array(
    [
        [1, 1, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [0, 0, 1, 1, 1],
        [0, 0, 1, 1, 0],
        [0, 1, 1, 0, 0],
    ]
)
X_KERNEL = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])


@pytest.mark.parametrize("conv", [ops.conv2d, ops.conv2d_toeplitz, ops.conv2d_reference])
def test_binary_image_convolved_feature(conv):
    feature = conv(BINARY_IMAGE[..., None], X_KERNEL[..., None, None])
    assert feature.shape == (3, 3, 1)
    np.testing.assert_array_equal(np.asarray(feature[..., 0]), [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


RED = [
    [156, 155, 156, 158, 158, 158],
    [153, 154, 157, 159, 159, 159],
    [149, 151, 155, 158, 159, 159],
    [146, 146, 149, 153, 158, 158],
    [145, 143, 143, 148, 158, 158],
]
GREEN = [
    [167, 166, 167, 169, 169, 169],
    [164, 165, 168, 170, 170, 170],
    [160, 162, 166, 169, 170, 170],
    [156, 156, 159, 163, 168, 168],
    [155, 153, 153, 158, 168, 168],
]
BLUE = [
    [163, 162, 163, 165, 165, 165],
    [160, 161, 164, 166, 166, 166],
    [156, 158, 162, 165, 166, 166],
    [155, 155, 158, 162, 167, 167],
    [154, 152, 152, 157, 167, 167],
]
K1 = [[-1, -1, 1], [0, 1, -1], [0, 1, 1]]
K2 = [[1, 0, 0], [1, -1, -1], [1, 0, -1]]
K3 = [[0, 1, 1], [0, 1, 0], [1, -1, 1]]

# The slide shows the top-left 5x6 of an image that continues right and down ('...'). With
# zero padding 1 only the top and left borders are zeros we know; output (i, j) reads padded
# rows i..i+2 and columns j..j+2, of which rows 0..5 and columns 0..6 are shown. So exactly
# the 4x5 block i <= 3, j <= 4 is determined by the slide. Its first row and first column
# start with the slide's -25 466 466 475 / 295; the rest follows from the same numbers.
RGB_DETERMINED_OUTPUT = np.array(
    [
        [-25, 466, 466, 475, 481],
        [295, 787, 798, 812, 820],
        [291, 776, 784, 800, 812],
        [293, 771, 773, 782, 801],
    ]
)


def _rgb_input_and_kernel():
    image = np.stack([RED, GREEN, BLUE], axis=-1)
    kernel = np.stack([K1, K2, K3], axis=-1)[..., None]  # (3, 3, C_in=3, C_out=1)
    return image, kernel


@pytest.mark.parametrize("conv", [ops.conv2d, ops.conv2d_toeplitz, ops.conv2d_reference])
def test_rgb_multi_channel_example(conv):
    image, kernel = _rgb_input_and_kernel()
    out = np.asarray(conv(image, kernel, np.array([1.0]), padding=1))[..., 0]
    assert out.shape == (5, 6)
    np.testing.assert_array_equal(out[:4, :5], RGB_DETERMINED_OUTPUT)
    # The slide's per-channel breakdown of the entry below the first: 298 - 491 + 487 + 1.
    per_channel = [
        np.asarray(conv(image[..., c : c + 1], kernel[:, :, c : c + 1], padding=1))[1, 0, 0]
        for c in range(3)
    ]
    np.testing.assert_array_equal(per_channel, [298, -491, 487])
    assert sum(per_channel) + 1 == out[1, 0] == 295


def test_six_by_six_by_three_with_two_filters():
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, size=(6, 6, 3)).astype(np.float32)
    kernel = rng.integers(-1, 2, size=(3, 3, 3, 2)).astype(np.float32)
    bias = np.array([1.0, -2.0], np.float32)
    out = ops.conv2d(x, kernel, bias)
    assert out.shape == (4, 4, 2)
    np.testing.assert_array_equal(np.asarray(out), ops.conv2d_reference(x, kernel, bias))
    # One entry by hand: filter 1 at (2, 1) is the sum over the 3x3x3 window plus its bias.
    assert out[2, 1, 1] == np.sum(x[2:5, 1:4, :] * kernel[..., 1]) + bias[1]


POOL_FEATURE = np.array(
    [
        [3, 3, 2, 1, 0],
        [0, 0, 1, 3, 1],
        [3, 1, 2, 2, 3],
        [2, 0, 0, 2, 2],
        [2, 0, 0, 0, 1],
    ]
)


@pytest.mark.parametrize("pool", [ops.max_pool, ops.max_pool_reference])
def test_three_by_three_max_pool_over_five_by_five(pool):
    out = np.asarray(pool(POOL_FEATURE[..., None], 3, stride=1))[..., 0]
    np.testing.assert_array_equal(out, [[3, 3, 3], [3, 3, 3], [3, 2, 3]])


@pytest.mark.parametrize("pool", [ops.avg_pool, ops.avg_pool_reference])
def test_three_by_three_avg_pool_over_five_by_five(pool):
    out = np.asarray(pool(POOL_FEATURE[..., None], (3, 3), stride=1))[..., 0]
    # Window sums by hand, e.g. top-left 3+3+2 + 0+0+1 + 3+1+2 = 15.
    window_sums = np.array([[15, 15, 15], [9, 11, 16], [10, 7, 12]])
    np.testing.assert_allclose(out, window_sums / 9, rtol=1e-6)


def test_lenet5_first_layers_shapes():
    x = jnp.zeros((2, 32, 32, 1))
    kernel = jnp.ones((5, 5, 1, 6))
    conv = ops.conv2d(x, kernel, jnp.zeros(6), stride=1, padding=0)
    assert conv.shape == (2, 28, 28, 6)
    pooled = ops.avg_pool(conv, 2, stride=2)
    assert pooled.shape == (2, 14, 14, 6)
    assert ops.conv_output_size(32, 5) == 28 and ops.conv_output_size(28, 2, 2) == 14


def test_one_d_examples():
    # "1D convolution": a single-channel signal.
    signal = np.array([1.0, 2.0, 3.0, 4.0, 5.0])[:, None]
    out = ops.conv1d(signal, np.array([1.0, 0.0, -1.0])[:, None, None])
    np.testing.assert_array_equal(np.asarray(out[:, 0]), [-2.0, -2.0, -2.0])
    # "1D convolution with 2D input": the kernel covers the full width and slides down only.
    grid = np.arange(12.0).reshape(4, 3)
    kernel = np.ones((2, 3, 1))
    out = ops.conv1d(grid, kernel)
    np.testing.assert_array_equal(
        np.asarray(out[:, 0]),
        [0 + 1 + 2 + 3 + 4 + 5, 3 + 4 + 5 + 6 + 7 + 8, 6 + 7 + 8 + 9 + 10 + 11],
    )


def test_relu_matches_lecture_formula():
    h = np.array([[-2.0, 0.0], [0.5, 3.0]])
    np.testing.assert_array_equal(np.asarray(ops.relu(h)), [[0.0, 0.0], [0.5, 3.0]])
    np.testing.assert_array_equal(ops.relu_reference(h), np.asarray(ops.relu(h)))


# ---------------------------------------------------------------------------------------------
# Fast lax forms agree with the references on random inputs
# ---------------------------------------------------------------------------------------------

PADDINGS = [0, 1, 2, "SAME", "VALID", "same"]


# The Toeplitz form with one band, with bands of 2 output columns (the last group padded when 2
# does not divide the output width) and with the automatic band width.
TOEPLITZ_FORMS = [
    ops.conv2d_toeplitz,
    functools.partial(ops.conv2d_toeplitz, block=2),
    functools.partial(ops.conv2d_toeplitz, block="auto"),
]


@pytest.mark.parametrize("conv2d", [ops.conv2d, *TOEPLITZ_FORMS])
@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", PADDINGS)
def test_conv2d_matches_reference(conv2d, batched, stride, padding):
    rng = np.random.default_rng(stride * 10 + PADDINGS.index(padding))
    shape = (2, 7, 8, 3) if batched else (7, 8, 3)
    x = rng.normal(size=shape).astype(np.float32)
    kernel = rng.normal(size=(3, 2, 3, 4)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    fast = conv2d(x, kernel, bias, stride=stride, padding=padding)
    ref = ops.conv2d_reference(x, kernel, bias, stride=stride, padding=padding)
    assert fast.shape == ref.shape
    np.testing.assert_allclose(np.asarray(fast), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("conv2d", [ops.conv2d, *TOEPLITZ_FORMS])
def test_conv2d_rectangular_stride_without_bias(conv2d):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(9, 7, 2)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 2, 5)).astype(np.float32)
    fast = conv2d(x, kernel, stride=(2, 1), padding="SAME")
    assert fast.shape == (5, 7, 5)
    np.testing.assert_allclose(
        np.asarray(fast),
        ops.conv2d_reference(x, kernel, stride=(2, 1), padding="SAME"),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", PADDINGS)
def test_conv1d_matches_reference(batched, stride, padding):
    rng = np.random.default_rng(stride * 10 + PADDINGS.index(padding))
    shape = (3, 11, 2) if batched else (11, 2)
    x = rng.normal(size=shape).astype(np.float32)
    kernel = rng.normal(size=(4, 2, 3)).astype(np.float32)
    bias = rng.normal(size=3).astype(np.float32)
    fast = ops.conv1d(x, kernel, bias, stride=stride, padding=padding)
    ref = ops.conv1d_reference(x, kernel, bias, stride=stride, padding=padding)
    assert fast.shape == ref.shape
    np.testing.assert_allclose(np.asarray(fast), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize(
    "window, stride, padding",
    [(2, None, 0), (3, 1, 0), (3, 2, 1), ((2, 3), (1, 2), "SAME"), (3, 2, "VALID"), (2, 1, 1)],
)
def test_pools_match_reference(batched, window, stride, padding):
    rng = np.random.default_rng(3)
    shape = (2, 7, 8, 3) if batched else (7, 8, 3)
    x = rng.normal(size=shape).astype(np.float32)
    for fast_pool, ref_pool in [
        (ops.max_pool, ops.max_pool_reference),
        (ops.avg_pool, ops.avg_pool_reference),
    ]:
        fast = fast_pool(x, window, stride=stride, padding=padding)
        ref = ref_pool(x, window, stride=stride, padding=padding)
        assert fast.shape == ref.shape
        np.testing.assert_allclose(np.asarray(fast), ref, rtol=1e-5, atol=1e-6)


def test_padding_semantics():
    x = np.ones((4, 4, 1), np.float32)
    # Zero padding lowers border window sums; -inf padding never wins the max.
    summed = ops.conv2d(x, np.ones((3, 3, 1, 1), np.float32), padding=1)
    assert summed[0, 0, 0] == 4 and summed[1, 1, 0] == 9
    assert ops.max_pool(-x, 3, stride=1, padding=1)[0, 0, 0] == -1
    assert np.isclose(ops.avg_pool(x, 3, stride=1, padding=1)[0, 0, 0], 4 / 9)
    assert ops.conv2d(x, np.ones((3, 3, 1, 1)), stride=3, padding="SAME").shape == (2, 2, 1)


def test_conv2d_is_jittable_and_differentiable():
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(5, 5, 2)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(3, 3, 2, 1)), jnp.float32)

    def loss(k):
        return jnp.sum(ops.conv2d(x, k, stride=2, padding=1) ** 2)

    grad = jax.jit(jax.grad(loss))(kernel)
    # Central finite difference on one kernel entry (loss is quadratic, so it is exact up to
    # rounding).
    eps = 1e-2
    bump = jnp.zeros_like(kernel).at[1, 2, 1, 0].set(eps)
    numeric = (loss(kernel + bump) - loss(kernel - bump)) / (2 * eps)
    np.testing.assert_allclose(grad[1, 2, 1, 0], numeric, rtol=1e-3)


@pytest.mark.parametrize("block", [None, 3, "auto"])
@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((1, 2), "SAME")])
def test_conv2d_toeplitz_gradients_match_lax(stride, padding, block):
    # The banded matrix is built from the kernel by a gather; its gradient must route every
    # band entry back to the kernel entry it copies, for the input and the kernel alike.
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.normal(size=(2, 9, 10, 3)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(3, 4, 3, 5)), jnp.float32)
    bias = jnp.asarray(rng.normal(size=5), jnp.float32)
    weights = jnp.asarray(rng.normal(size=ops.conv2d(x, kernel, stride=stride,
                                                     padding=padding).shape), jnp.float32)

    def loss(conv2d):
        return lambda x, k, b: jnp.sum(weights * jnp.tanh(conv2d(x, k, b, stride=stride,
                                                                 padding=padding)))

    lax_grads = jax.grad(loss(ops.conv2d), argnums=(0, 1, 2))(x, kernel, bias)
    toeplitz = functools.partial(ops.conv2d_toeplitz, block=block)
    toeplitz_grads = jax.jit(jax.grad(loss(toeplitz), argnums=(0, 1, 2)))(x, kernel, bias)
    for got, want in zip(toeplitz_grads, lax_grads, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-5)


def test_conv2d_toeplitz_gradient_with_explicitly_sharded_batch():
    # Reshapes touch only unsharded axes, so a batch sharded over devices under an explicit-axes
    # mesh (inside jax.set_mesh, as JAX requires for explicit sharding) trains unchanged.
    devices = jax.devices()[:2]
    if len(devices) < 2:
        pytest.skip("needs two devices (tests/conftest.py asks for four CPU devices)")
    mesh = jax.make_mesh((2,), ("batch",), axis_types=(jax.sharding.AxisType.Explicit,),
                         devices=devices)
    rng = np.random.default_rng(6)
    x = jnp.asarray(rng.normal(size=(4, 12, 12, 2)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(5, 5, 2, 3)), jnp.float32)

    def loss(k, x):
        return jnp.sum(jnp.tanh(ops.conv2d_toeplitz(x, k, block="auto")))

    want = jax.grad(loss)(kernel, x)
    with jax.set_mesh(mesh):
        sharded = jax.device_put(x, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(
            "batch")))
        got = jax.jit(jax.grad(loss))(kernel, sharded)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_conv2d_toeplitz_auto_block_and_bad_block():
    # LeNet-5: C1 has 28 output columns and C3 10, with 5x5 kernels: the divisors nearest 4.
    assert ops.conv._toeplitz_block(28, 5) == 4
    assert ops.conv._toeplitz_block(10, 5) == 5
    assert ops.conv._toeplitz_block(7, 3) == 1 and ops.conv._toeplitz_block(12, 4) == 3
    x, kernel = np.zeros((6, 6, 1)), np.zeros((3, 3, 1, 1))
    for bad in (0, -1, 1.5, "wide", True):
        with pytest.raises(ValueError, match="block"):
            ops.conv2d_toeplitz(x, kernel, block=bad)


# ---------------------------------------------------------------------------------------------
# Error messages
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("conv2d", [ops.conv2d, ops.conv2d_toeplitz, ops.conv2d_reference])
def test_conv2d_errors(conv2d):
    x = np.zeros((5, 5, 3))
    with pytest.raises(ValueError, match="rank"):
        conv2d(np.zeros((5, 5)), np.zeros((3, 3, 3, 1)))
    with pytest.raises(ValueError, match="kernel of rank 4"):
        conv2d(x, np.zeros((3, 3, 1)))
    with pytest.raises(ValueError, match="3 channels .* C_in=2"):
        conv2d(x, np.zeros((3, 3, 2, 1)))
    with pytest.raises(ValueError, match="bias"):
        conv2d(x, np.zeros((3, 3, 3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(x, np.zeros((7, 7, 3, 1)))
    with pytest.raises(ValueError, match="padding"):
        conv2d(x, np.zeros((3, 3, 3, 1)), padding="FULL")
    with pytest.raises(ValueError, match="stride"):
        conv2d(x, np.zeros((3, 3, 3, 1)), stride=0)


def test_conv1d_and_pool_errors():
    with pytest.raises(ValueError, match="rank 2 .* or 3"):
        ops.conv1d(np.zeros((2, 3, 4, 5)), np.zeros((3, 5, 1)))
    with pytest.raises(ValueError, match="channels"):
        ops.conv1d(np.zeros((6, 2)), np.zeros((3, 4, 1)))
    with pytest.raises(ValueError, match="rank 3 .* or 4"):
        ops.max_pool(np.zeros((4, 4)), 2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        ops.avg_pool(np.zeros((2, 2, 1)), 3)
    with pytest.raises(ValueError, match="padding"):
        ops.max_pool(np.zeros((4, 4, 1)), 2, padding=-1)


@pytest.mark.parametrize("pool", [ops.max_pool, ops.max_pool_reference])
def test_max_pool_refuses_padding_over_half_the_window(pool):
    # PyTorch's rule: with more padding a border window could hold only -inf padding.
    x = np.arange(16.0).reshape(4, 4, 1)
    assert pool(x, 3, stride=1, padding=1).shape == (4, 4, 1)
    assert np.all(np.isfinite(pool(x, (2, 3), stride=1, padding=1)))
    with pytest.raises(ValueError, match="at most half the window"):
        pool(x, 3, stride=1, padding=2)
    with pytest.raises(ValueError, match="at most half the window"):
        pool(x, (3, 1), stride=1, padding=1)
    # Average pooling counts padded zeros and has no such limit.
    assert ops.avg_pool(x, 3, stride=1, padding=2).shape == (6, 6, 1)
