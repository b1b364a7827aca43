"""Tests for dl_jax.models.cnn (parameter counts, one train step per zoo model, modes) and the
MNIST-1D models of dl_jax.models.mnist1d."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dl_jax import ops
from dl_jax.models import cnn
from dl_jax.models.cnn import CNN_ZOO

# These tests run each program once or a few times, so XLA's compile time dominates. Without
# LLVM optimisation and with the classic CPU emitters compilation is 3-10x faster (one step of
# GoogLeNet: ~1 s instead of ~9 s). Options an XLA build does not know are dropped in turn.
_QUICK_COMPILE_OPTIONS = (
    {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False},
    {"xla_backend_optimization_level": 0},
    {},
)


def _quick_jit(fn, *args, static_argnames=()):
    """``jax.jit(fn)`` compiled for ``args`` with the quick-compile options above."""
    lowered = jax.jit(fn, static_argnames=static_argnames).lower(*args)
    for options in _QUICK_COMPILE_OPTIONS:
        try:
            return lowered.compile(compiler_options=options)
        except jax.errors.JaxRuntimeError:
            continue
    return lowered.compile()


def _param_count(model, input_shape, **init_kwargs):
    variables = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros(input_shape), **init_kwargs)
    )
    return sum(leaf.size for leaf in jax.tree.leaves(variables["params"]))


# Reference counts: torchvision for AlexNet / VGG / ImageNet ResNets; hand sums of the layer
# tables for the others (see each class docstring).
EXPECTED_PARAMS = {
    "lenet5": (61_706, (1, 32, 32, 1), 10),
    "alexnet": (61_100_840, (1, 224, 224, 3), 1000),
    "zfnet": (62_357_608, (1, 224, 224, 3), 1000),
    "vgg11": (132_863_336, (1, 224, 224, 3), 1000),
    "vgg13": (133_047_848, (1, 224, 224, 3), 1000),
    "vgg16": (138_357_544, (1, 224, 224, 3), 1000),
    "vgg19": (143_667_240, (1, 224, 224, 3), 1000),
    "googlenet": (6_998_552, (1, 224, 224, 3), 1000),
    "resnet18": (11_689_512, (1, 224, 224, 3), 1000),
    "resnet34": (21_797_672, (1, 224, 224, 3), 1000),
    "resnet50": (25_557_032, (1, 224, 224, 3), 1000),
    "resnet20": (269_722, (1, 32, 32, 3), 10),
    "resnet32": (464_154, (1, 32, 32, 3), 10),
    "resnet44": (658_586, (1, 32, 32, 3), 10),
    "resnet56": (853_018, (1, 32, 32, 3), 10),
}


def test_zoo_names():
    assert set(CNN_ZOO) == set(EXPECTED_PARAMS)
    assert all(issubclass(cls, nn.Module) for cls in CNN_ZOO.values())


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_parameter_counts(name):
    expected, input_shape, num_classes = EXPECTED_PARAMS[name]
    assert _param_count(CNN_ZOO[name](num_classes=num_classes), input_shape) == expected


def test_parameter_counts_of_variants():
    # LeNet-5 by hand: c1 6*(25+1), c3 16*(150+1), c5 120*(400+1), f6 84*(120+1), out 10*85.
    assert 6 * 26 + 16 * 151 + 120 * 401 + 84 * 121 + 10 * 85 == 61_706
    # Option B projections add (16*32 + 2*32) + (32*64 + 2*64) to the CIFAR ResNet.
    assert _param_count(cnn.ResNet20(num_classes=10, shortcut="B"), (1, 32, 32, 3)) == 272_474
    assert _param_count(cnn.VGG(num_classes=1000, depth=16), (1, 224, 224, 3)) == 138_357_544
    # GoogLeNet aux heads: 1x1 conv (512 or 528 -> 128), FC 2048 -> 1024, FC 1024 -> 1000.
    aux = (512 * 128 + 128) + (528 * 128 + 128) + 2 * (2048 * 1024 + 1024 + 1024 * 1000 + 1000)
    assert _param_count(cnn.GoogLeNet(aux_logits=True), (1, 224, 224, 3)) == 6_998_552 + aux
    # ResNets have no convolution bias (batch norm follows every convolution).
    variables = jax.eval_shape(
        lambda: cnn.ResNet50().init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
    )
    conv_leaves = [
        path
        for path, _ in jax.tree_util.tree_flatten_with_path(variables["params"])[0]
        if any("Conv" in str(key) for key in path)
    ]
    assert conv_leaves and all(str(path[-1].key) == "kernel" for path in conv_leaves)


def test_invalid_depths():
    with pytest.raises(ValueError, match="depth"):
        _param_count(cnn.VGG(depth=12), (1, 32, 32, 3))
    with pytest.raises(ValueError, match="6n \\+ 2"):
        _param_count(cnn.CifarResNet(depth=21), (1, 32, 32, 3))


# ---------------------------------------------------------------------------------------------
# One real SGD step of every zoo model
# ---------------------------------------------------------------------------------------------


_FILL_BLOCK = np.random.default_rng(1).standard_normal(1_000_003).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _tiled(shape, scale, offset=0.0):
    """``shape`` filled by tiling a fixed random block; cached because the VGGs (and AlexNet
    and ZFNet) share their 0.1-0.4 GB classifier matrices, whose filling dominates a step."""
    out = np.empty(int(np.prod(shape)), np.float32)
    pattern = _FILL_BLOCK * np.float32(scale) + np.float32(offset)
    for start in range(0, out.size, pattern.size):
        chunk = out[start : start + pattern.size]
        chunk[:] = pattern[: chunk.size]
    return jnp.asarray(out.reshape(shape))


def _synthetic_variables(model, x):
    """Variables with the model's exact structure and well-scaled, non-degenerate values.

    ``model.init`` of the 60-140M parameter models spends seconds in the random number
    generator; tiling a random block is far cheaper (``model.init`` itself is exercised by the
    other tests).
    """
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x))

    def fill(path, leaf):
        name = str(path[-1].key)
        if name in ("mean", "var"):
            return _tiled(leaf.shape, 0.0, 1.0 if name == "var" else 0.0)
        if name == "scale":
            return _tiled(leaf.shape, 0.1, 1.0)
        if name == "bias":
            return _tiled(leaf.shape, 0.1)
        return _tiled(leaf.shape, float(np.sqrt(2.0 / np.prod(leaf.shape[:-1]))))

    return jax.tree_util.tree_map_with_path(fill, shapes)


def _all_leaves_differ(tree_a, tree_b):
    pairs = zip(jax.tree.leaves(tree_a), jax.tree.leaves(tree_b), strict=True)
    return all(np.any(np.asarray(a) != np.asarray(b)) for a, b in pairs)


def _output_bias(params):
    head = params["classifier"] if "classifier" in params else params
    return head["logits"]["bias"]


def _input_shape(name):
    if name == "lenet5":
        return (2, 32, 32, 1)
    if name in ("alexnet", "zfnet"):
        return (2, 64, 64, 3)  # their first convolutions need more than 32 pixels
    return (2, 32, 32, 3)


# One member per family and block type; the deeper members (vgg13/16/19, resnet34/50,
# resnet32/44/56) are the same code with more blocks: their parameter counts are checked above and
# tests/test_registry.py traces a whole train step of every zoo name.
STEP_MODELS = ("lenet5", "alexnet", "zfnet", "vgg11", "googlenet", "resnet18", "bottleneck",
               "resnet20")
# ResNet-50's bottleneck blocks in a two-block network (ResNet-50 itself: 15 s of compiling).
_STEP_ZOO = {**CNN_ZOO, "bottleneck": functools.partial(
    cnn.ResNet, stage_sizes=(1, 1), block=cnn.resnet.BottleneckBlock)}


def test_step_models_cover_every_family():
    families = {CNN_ZOO[name].__module__ for name in CNN_ZOO}
    assert {_STEP_ZOO[name].func.__module__ if name == "bottleneck" else CNN_ZOO[name].__module__
            for name in STEP_MODELS} == families


@pytest.mark.parametrize("name", STEP_MODELS)
def test_one_sgd_train_step(name):
    num_classes = 3
    model = _STEP_ZOO[name](num_classes=num_classes)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(_input_shape(name)), jnp.float32)
    labels = jnp.array([0, 2])
    variables = _synthetic_variables(model, x)
    params = variables["params"]
    batch_stats = variables.get("batch_stats", {})
    optimizer = optax.sgd(1e-3)

    def train_step(params, batch_stats, dropout_key):
        def loss_fn(params):
            logits, updates = model.apply(
                {"params": params, "batch_stats": batch_stats},
                x,
                train=True,
                rngs={"dropout": dropout_key},
                mutable=["batch_stats"],
            )
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
            return loss, (logits, updates)

        (loss, (logits, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        step_updates, _ = optimizer.update(grads, optimizer.init(params), params)
        new_params = optax.apply_updates(params, step_updates)
        # Per-leaf peaks are reduced here rather than copying ~0.5 GB of VGG gradients and
        # parameters to the host.
        grad_peaks = jax.tree.map(lambda g: jnp.max(jnp.abs(g)), grads)
        moves = jax.tree.map(lambda new, old: jnp.max(jnp.abs(new - old)), new_params, params)
        output_bias = (_output_bias(new_params), _output_bias(grads))
        return updates.get("batch_stats", {}), loss, logits, grad_peaks, moves, output_bias

    args = (params, batch_stats, jax.random.key(2))
    step = _quick_jit(train_step, *args)
    new_stats, loss, logits, grad_peaks, moves, (new_output_bias, output_bias_grad) = step(*args)

    assert logits.shape == (2, num_classes)
    assert np.isfinite(float(loss))
    peaks = np.array([float(p) for p in jax.tree.leaves(grad_peaks)])
    assert np.all(np.isfinite(peaks))
    # Every parameter takes part in the loss, so every leaf gets a gradient and moves.
    assert np.all(peaks > 0), name
    assert all(float(move) > 0 for move in jax.tree.leaves(moves)), name
    # Plain SGD: the output layer's bias moved by exactly -lr * gradient.
    np.testing.assert_allclose(
        new_output_bias,
        _output_bias(params) - 1e-3 * output_bias_grad,
        rtol=1e-6,
        atol=1e-9,
    )
    if batch_stats:
        assert _all_leaves_differ(batch_stats, new_stats), name


# ---------------------------------------------------------------------------------------------
# Modes: eval determinism, dropout, batch statistics, auxiliary heads
# ---------------------------------------------------------------------------------------------


def test_dropout_only_in_train_mode():
    model = cnn.AlexNet(num_classes=4)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 64, 64, 3)), jnp.float32)
    variables = _synthetic_variables(model, x)

    def outputs(variables, key_a, key_b):
        return (
            model.apply(variables, x, train=False),
            # A dropout key passed in eval mode changes nothing: dropout is off.
            model.apply(variables, x, train=False, rngs={"dropout": key_a}),
            model.apply(variables, x, train=True, rngs={"dropout": key_a}),
            model.apply(variables, x, train=True, rngs={"dropout": key_b}),
        )

    keys = (jax.random.key(0), jax.random.key(1))
    run = _quick_jit(outputs, variables, *keys)
    eval_out, eval_with_key, train_a, train_b = run(variables, *keys)
    np.testing.assert_array_equal(eval_out, eval_with_key)
    assert not np.allclose(train_a, eval_out)
    assert not np.allclose(train_a, train_b)
    # Same keys, same masks; eval mode twice, same logits.
    again = run(variables, *keys)
    np.testing.assert_array_equal(again[0], eval_out)
    np.testing.assert_array_equal(again[2], train_a)


def test_batch_norm_statistics():
    # The smallest CIFAR ResNet (n = 1) runs the same code as ResNet20/32/44/56.
    model = cnn.CifarResNet(num_classes=10, depth=8)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 8, 8, 3)), jnp.float32)
    # Same first sample, different rest of the batch.
    x_other_batch = x.at[1:].set(x[1:] ** 2)
    variables = _quick_jit(model.init, jax.random.key(0), x)(jax.random.key(0), x)

    def outputs(variables):
        train = functools.partial(model.apply, variables, train=True, mutable=["batch_stats"])
        return (
            model.apply(variables, x, train=False),
            model.apply(variables, x_other_batch, train=False),
            train(x),
            train(x_other_batch)[0],
        )

    run = _quick_jit(outputs, variables)
    eval_logits, eval_other, (logits, updates), train_other = run(variables)
    # Eval mode: deterministic and uses running averages, so a sample's logits do not depend
    # on the rest of the batch.
    np.testing.assert_array_equal(eval_logits, run(variables)[0])
    np.testing.assert_allclose(eval_other[0], eval_logits[0], atol=1e-5)
    # Train mode normalises with batch statistics, so a sample's output depends on its batch.
    assert logits.shape == (4, 10)
    assert not np.allclose(train_other[0], logits[0], atol=1e-3)

    # With momentum 0.9 the stem's running mean becomes 0.9 * 0 + 0.1 * batch mean of the
    # stem convolution (3x3, padding 1, no bias), recomputed here with ops.conv2d.
    stem = ops.conv2d(x, variables["params"]["Conv_0"]["kernel"], padding=1)
    np.testing.assert_allclose(
        updates["batch_stats"]["BatchNorm_0"]["mean"],
        0.1 * np.mean(np.asarray(stem), axis=(0, 1, 2)),
        rtol=1e-4,
        atol=1e-6,
    )
    assert _all_leaves_differ(variables["batch_stats"], updates["batch_stats"])


def test_googlenet_aux_heads():
    # The train step weights each aux loss by the model's field (the paper's 0.3).
    assert cnn.GoogLeNet().aux_loss_weight == 0.3
    assert cnn.GoogLeNet(aux_loss_weight=0.1).aux_loss_weight == 0.1
    model = cnn.GoogLeNet(num_classes=5, aux_logits=True)
    x = jnp.zeros((2, 32, 32, 3))
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x))
    assert {"aux1", "aux2"} <= set(variables["params"])
    train_out = jax.eval_shape(
        lambda v: model.apply(v, x, train=True, rngs={"dropout": jax.random.key(1)}), variables
    )
    assert [o.shape for o in train_out] == [(2, 5)] * 3
    eval_out = jax.eval_shape(lambda v: model.apply(v, x, train=False), variables)
    assert eval_out.shape == (2, 5)


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


def test_adaptive_avg_pool_bins():
    x = jnp.arange(5.0).reshape(1, 5, 1, 1) * jnp.ones((1, 1, 2, 1))
    out = cnn.adaptive_avg_pool(x, (3, 1))
    # PyTorch's bins of 5 into 3: [0, 2), [1, 4), [3, 5).
    np.testing.assert_allclose(out[0, :, 0, 0], [0.5, 2.0, 3.5])
    # Upsampling repeats; an exact divisor is ordinary average pooling.
    assert cnn.adaptive_avg_pool(jnp.ones((1, 1, 1, 2)), (7, 7)).shape == (1, 7, 7, 2)
    y = jnp.asarray(np.random.default_rng(0).standard_normal((2, 12, 12, 3)), jnp.float32)
    np.testing.assert_allclose(cnn.adaptive_avg_pool(y, (6, 6)), ops.avg_pool(y, 2), atol=1e-6)


def test_adaptive_avg_pool_weights_in_the_input_dtype():
    # float32 weights (1/3 rounded to float32) would give 1.0000000298 in a float64 run.
    with jax.enable_x64(True):
        out = cnn.adaptive_avg_pool(jnp.ones((1, 3, 3, 1), jnp.float64), (1, 1))
        assert out.dtype == jnp.float64
        assert float(out[0, 0, 0, 0]) == 1.0
    assert cnn.adaptive_avg_pool(jnp.ones((1, 3, 3, 1), jnp.bfloat16), (1, 1)).dtype == jnp.bfloat16


def test_zfnet_and_googlenet_ceil_pooling_sizes():
    # The paper's map sizes: ZFNet 110 -> 55, 26 -> 13, 13 -> 6; GoogLeNet 112 -> 56, 14 -> 7.
    for size, pooled in [(110, 55), (26, 13), (13, 6), (112, 56), (14, 7)]:
        assert cnn.max_pool_ceil(jnp.zeros((1, size, size, 1)), 3, 2).shape[1] == pooled
    x = jnp.asarray(np.random.default_rng(0).standard_normal((1, 4, 4, 1)), jnp.float32)
    # The overhanging last window only sees real values.
    out = cnn.max_pool_ceil(x, 3, 2)
    assert out.shape == (1, 2, 2, 1)
    assert out[0, 1, 1, 0] == jnp.max(x[0, 2:, 2:, 0])


def test_local_response_norm_formula():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((1, 2, 2, 7)), jnp.float32)
    out = cnn.local_response_norm(x, size=5, alpha=1e-1, beta=0.75, k=2.0)
    c = 3
    expected = x[..., c] / (2.0 + 1e-1 / 5 * jnp.sum(x[..., c - 2 : c + 3] ** 2, -1)) ** 0.75
    np.testing.assert_allclose(out[..., c], expected, rtol=1e-5)
    edge = x[..., 0] / (2.0 + 1e-1 / 5 * jnp.sum(x[..., :3] ** 2, -1)) ** 0.75
    np.testing.assert_allclose(out[..., 0], edge, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# LeNet-5 learns
# ---------------------------------------------------------------------------------------------


def test_lenet5_overfits_one_batch():
    model = cnn.LeNet5(num_classes=10)
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.standard_normal((32, 32, 32, 1)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 10, size=32))
    params = _quick_jit(model.init, jax.random.key(0), images)(jax.random.key(0), images)["params"]
    optimizer = optax.adam(1e-3)

    def loss_fn(params):
        logits = model.apply({"params": params}, images, train=True)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    @jax.jit
    def train(params):
        def step(carry, _):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), None, 30)
        return params, losses

    @jax.jit
    def accuracy(params):
        return jnp.mean(jnp.argmax(model.apply({"params": params}, images), -1) == labels)

    assert float(accuracy(params)) < 0.5
    trained, losses = train(params)
    assert float(accuracy(trained)) >= 0.95
    assert float(losses[-1]) < 0.1 * float(losses[0])


def test_lenet5_conv_forms_share_parameters_and_outputs():
    # 'toeplitz' (banded matmul, the CPU default) and 'lax' (nn.Conv) are one network: the same
    # seed gives the same parameter tree, and logits and gradients agree up to rounding.
    rng = np.random.default_rng(1)
    images = jnp.asarray(rng.standard_normal((4, 32, 32, 1)), jnp.float32)
    models = {form: cnn.LeNet5(num_classes=10, conv_form=form) for form in ("lax", "toeplitz")}
    key = jax.random.key(3)
    params = {form: _quick_jit(m.init, key, images)(key, images)["params"]
              for form, m in models.items()}
    jax.tree.map(np.testing.assert_array_equal, params["lax"], params["toeplitz"])

    def logits_and_grads(model, p):
        logits = model.apply({"params": p}, images)
        return logits, jax.grad(lambda p: jnp.sum(jnp.sin(model.apply({"params": p}, images))))(p)

    outputs = {f: _quick_jit(functools.partial(logits_and_grads, m), params["lax"])(params["lax"])
               for f, m in models.items()}
    logits = {f: out[0] for f, out in outputs.items()}
    np.testing.assert_allclose(logits["toeplitz"], logits["lax"], rtol=1e-5, atol=1e-5)
    grads = {f: out[1] for f, out in outputs.items()}
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                 grads["toeplitz"], grads["lax"])
    # The form is explicit: the model never reads the backend (configs pick one, see
    # fastest_conv_form); 'auto' is no longer a form.
    assert cnn.LeNet5().conv_form == "lax"
    assert cnn.fastest_conv_form("cpu") == "toeplitz" and cnn.fastest_conv_form("gpu") == "lax"
    for form in ("fft", "auto"):
        with pytest.raises(ValueError, match="conv_form"):
            cnn.LeNet5(conv_form=form)


@pytest.mark.parametrize("model", [cnn.ResNet20(shortcut="B"), cnn.ResNet18(num_classes=10)])
def test_resnet_bfloat16_compute_keeps_float32_state(model):
    # Mixed precision: bf16 activations, float32 parameters, statistics and logits. In eval mode
    # it is the float32 function up to bf16 rounding. (Train mode is not compared: at 32x32 the
    # last ResNet-18 stage normalises 4 numbers per channel, which amplifies any rounding.)
    x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    variables = _quick_jit(model.init, jax.random.key(1), x)(jax.random.key(1), x)
    mixed = model.clone(dtype=jnp.bfloat16)

    def train_forward(module, variables, x):
        return module.apply(variables, x, train=True, mutable=["batch_stats"])

    logits, state = _quick_jit(functools.partial(train_forward, mixed), variables, x)(variables, x)
    assert logits.dtype == jnp.float32
    assert {leaf.dtype for leaf in jax.tree.leaves(state)} == {jnp.dtype(jnp.float32)}
    assert "bf16" in str(jax.make_jaxpr(functools.partial(train_forward, mixed))(variables, x))

    def eval_forward(module, variables, x):
        return module.apply(variables, x, train=False)

    got = _quick_jit(functools.partial(eval_forward, mixed), variables, x)(variables, x)
    want = _quick_jit(functools.partial(eval_forward, model), variables, x)(variables, x)
    np.testing.assert_allclose(got, want, atol=0.03 * float(jnp.abs(want).max()))


def test_get_model_turns_bad_model_kwargs_into_user_errors():
    # --config.model_kwargs.* reaches the constructor: a wrong value or an unknown keyword must
    # end the run with the one-line error, not a traceback from deep inside init.
    from dl_jax.errors import UserError
    from dl_jax.models import get_model

    assert get_model("lenet5", 10, conv_form="lax").conv_form == "lax"
    with pytest.raises(UserError, match="model 'lenet5': LeNet5.conv_form must be one of"):
        get_model("lenet5", 10, conv_form="fft")
    with pytest.raises(UserError, match="model 'lenet5' has no argument 'widths': .*conv_form"):
        get_model("lenet5", 10, widths=3)


# ---------------------------------------------------------------------------------------------
# MNIST-1D models (dl_jax.models.mnist1d)
# ---------------------------------------------------------------------------------------------


def test_mlp_dropout_rate():
    from dl_jax.models import get_model

    x = jnp.asarray(np.random.default_rng(0).standard_normal((8, 40)), jnp.float32)
    plain, dropped = get_model("mlp", 10), get_model("mlp", 10, dropout_rate=0.5)
    variables = plain.init(jax.random.key(0), x)
    # Same parameter tree and initial values: dropout adds no parameters and no init draws.
    jax.tree.map(np.testing.assert_array_equal, variables, dropped.init(jax.random.key(0), x))
    rngs = {"dropout": jax.random.key(1)}
    train_plain = plain.apply(variables, x, train=True, rngs=rngs)
    np.testing.assert_array_equal(train_plain, plain.apply(variables, x))  # rate 0: no dropout
    np.testing.assert_array_equal(dropped.apply(variables, x), plain.apply(variables, x))
    train_dropped = dropped.apply(variables, x, train=True, rngs=rngs)
    assert not np.allclose(train_dropped, train_plain)
    np.testing.assert_array_equal(train_dropped, dropped.apply(variables, x, train=True, rngs=rngs))


def test_cnn_alias_builds_the_conv1d_net():
    from dl_jax.models import get_model, mnist1d

    assert type(get_model("cnn", 10)) is mnist1d.Conv1DNet
    assert type(get_model("conv1d", 10)) is mnist1d.Conv1DNet
