"""A CNN's training step layer by layer (estimate/convnet.py): hand-computable cases."""

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate import convnet as cn
from dlrig.estimate import perf
from dlrig.estimate.job import shape
from estimate_helpers import job


def test_resnet50_layers_reproduce_torchvisions_count_of_macs_and_parameters():
    m = find_model("resnet50")
    net = cn.net_of(m)
    assert net is not None
    # torchvision ResNet50_Weights.IMAGENET1K_V1: _ops 4.089 (G multiply-accumulates)
    assert cn.macs_per_image(net) == 4_089_184_256
    assert 2 * cn.macs_per_image(net) / 1e9 == pytest.approx(m.gflops_per_sample, rel=1e-3)
    # and num_params 25557032: conv weights, the head (2048 x 1000 + bias), two per BN channel
    bn = sum(2 * cv.c_out for cv in net.convs)
    assert sum(cv.weights for cv in net.convs) + 2048 * 1000 + 1000 + bn == m.params_total
    assert len(net.convs) == 53  # 1 stem + 16 blocks x 3 + 4 projection shortcuts


@pytest.mark.parametrize(
    ("stages", "gmacs"),
    [("basic:2-2-2-2", 1.814), ("basic:3-4-6-3", 3.664), ("bottleneck:3-4-23-3", 7.801)],
)
def test_other_resnets_match_torchvisions_published_ops(stages, gmacs):
    # torchvision resnet18 / resnet34 / resnet101 weights tables (_ops, GMACs at 224)
    assert cn.macs_per_image(cn.build(stages, 224)) / 1e9 == pytest.approx(gmacs, abs=5e-4)


def test_resnet50_feature_maps_by_stage():
    net = cn.build("bottleneck:3-4-6-3", 224)
    assert net.pool_in == 64 * 112 * 112 and net.pool_out == 64 * 56 * 56
    assert net.head_in == 2048 * 7 * 7
    # v1.5: the first bottleneck of stage 2 strides in its 3x3 (56 -> 28), not its 1x1
    # (stem, then stage 1: three blocks of three and one projection shortcut = convs 1-10)
    first, second = net.convs[11], net.convs[12]
    assert (first.kernel, first.h_in, first.h_out) == (1, 56, 56)
    assert (second.kernel, second.h_in, second.h_out) == (3, 56, 28)


def _one_block() -> cn.Net:
    """conv 3x3, 4 -> 8 channels on a 4x4 map, batch norm, ReLU; nothing else."""
    conv = cn.Conv(c_in=4, c_out=8, kernel=3, h_in=4, h_out=4, relu=True)
    return cn.Net((conv,), (), (), 0, 0, 0, 0)


def test_conv_bn_relu_block_bytes_by_hand():
    net = _one_block()
    n = 8 * 4 * 4  # 128 output elements per image
    # forward: BN reads x twice, writes y (3N); ReLU reads and writes (2N)
    # backward: BN reduce reads dy, x; element pass reads dy, x, writes dx (5N); ReLU 3N
    assert cn.elementwise_bytes_per_image(net, 2, False) == (3 + 2 + 5 + 3) * n * 2
    # a recomputed forward streams the forward ops again
    assert cn.elementwise_bytes_per_image(net, 2, True) == (2 * (3 + 2) + 5 + 3) * n * 2


def test_conv_bn_relu_block_flops_and_time_by_hand():
    net = _one_block()
    macs = 4 * 8 * 9 * 16  # c_in x c_out x k^2 x output positions
    assert net.convs[0].macs == macs
    # 1 TFLOPS at efficiency 0.5 and 1 GB/s at fraction 0.5, batch 10: three kernels of
    # 2 x macs x b FLOPs each; 13 N bytes x e x b of element-wise traffic at 0.5 GB/s
    b = 10
    step = cn.train_step(net, b, 2, 1.0, 0.5, 1.0, 0.5, False, False)
    assert step.flops == 3 * 2 * macs * b
    assert step.conv_s == pytest.approx(3 * 2 * macs * b / 0.5e12)
    assert step.elementwise_s == pytest.approx(13 * 128 * 2 * b / 0.5e9)
    # checkpointing reruns the forward kernel
    assert cn.train_step(net, b, 2, 1.0, 0.5, 1.0, 0.5, False, True).flops == 4 * 2 * macs * b


def test_nchw_transposes_each_activation_operand_once_per_kernel():
    net = _one_block()
    last = cn.train_step(net, 1, 2, 1.0, 1.0, 1.0, 1.0, False, False)
    nchw = cn.train_step(net, 1, 2, 1.0, 1.0, 1.0, 1.0, True, False)
    # forward x (64), input gradient dy (128), weight gradient x and dy (192): read + write
    assert nchw.elementwise_bytes - last.elementwise_bytes == 2 * (64 + 128 + 192) * 2


def test_the_stem_computes_no_input_gradient():
    net = cn.build("bottleneck:3-4-6-3", 224)
    assert not net.convs[0].needs_input_grad
    assert all(cv.needs_input_grad for cv in net.convs[1:])
    step = cn.train_step(net, 1, 2, 100.0, 1.0, 1000.0, 1.0, False, False)
    stem = 2 * net.convs[0].macs
    assert step.flops == pytest.approx(3 * 2 * cn.macs_per_image(net) - stem)


def test_bad_conv_stages_are_refused():
    with pytest.raises(ValueError):
        cn.parse_stages("dense:3-4")
    with pytest.raises(ValueError):
        cn.build("basic:1-1-1-1-1", 224)


def test_resnet50_training_uses_the_layer_model():
    m = find_model("resnet50")
    j = job("RTX 4090", precision="fp16", batch_size=64)
    s = shape(m, j)
    step = perf.cnn_step(s, 165.0, 0.5, False)
    assert step is not None
    assert step.flops / 64 == pytest.approx(3 * m.gflops_per_sample * 1e9, rel=0.02)
    # a model that lists no layers keeps the pass model
    assert perf.cnn_step(shape(find_model("vit-b16"), j), 165.0, 0.5, False) is None


@pytest.mark.parametrize(
    "bad", ["bottleneck", "bottleneck:", "dense:3-4-6-3", "basic:0-2", "basic:3;4"]
)
def test_a_preset_with_a_malformed_conv_stages_is_refused(bad):
    from pydantic import ValidationError

    from dlrig.model.workload import ModelKind, ModelSpec

    with pytest.raises(ValidationError, match="conv_stages"):
        ModelSpec(name="x", kind=ModelKind.CNN, params_total=1, conv_stages=bad)


# --- inference (eval mode, no autograd) -------------------------------------------------------


def test_eval_forward_bytes_by_hand():
    net = _one_block()
    n, n_in = 8 * 4 * 4, 4 * 4 * 4
    # batch norm with its running statistics reads x and writes y (2N); ReLU 2N
    assert cn.infer_elementwise_bytes_per_image(net, 2, False) == (2 + 2) * n * 2
    # NCHW: the convolution's input transposed once (read + write)
    assert cn.infer_elementwise_bytes_per_image(net, 2, True) == ((2 + 2) * n + 2 * n_in) * 2


def test_eval_forward_time_by_hand():
    net = _one_block()
    macs, b = 4 * 8 * 9 * 16, 10
    # 1 TFLOPS at efficiency 0.5 and 1 GB/s at fraction 0.5: one forward kernel per conv
    step = cn.infer_step(net, b, 2, 1.0, 0.5, 1.0, 0.5, False)
    assert step.flops == 2 * macs * b
    assert step.conv_s == pytest.approx(2 * macs * b / 0.5e12)
    assert step.elementwise_s == pytest.approx(4 * 128 * 2 * b / 0.5e9)
    with pytest.raises(ValueError):
        cn.infer_step(net, b, 2, 1.0, 0.0, 1.0, 0.5, False)


@pytest.mark.parametrize("nchw", [False, True])
def test_eval_kernel_walk_without_a_cache_is_the_closed_form(nchw):
    """The launch-order walk (what an L2 size is applied to) bills every byte with no cache."""
    from dlrig.estimate.l2_residency import billed_bytes

    net = cn.build("bottleneck:3-4-6-3", 224)
    seq = cn._Sequence(net, 3, 2, nchw, inference=True)
    seq.build()
    assert seq.bwd == []
    walked = sum(billed_bytes(seq.fwd, None))
    assert walked == pytest.approx(3 * cn.infer_elementwise_bytes_per_image(net, 2, nchw))
    # a 72 MB L2 keeps some of a batch-3 forward's reads on chip
    assert cn.infer_step(net, 3, 2, 1, 1, 1, 1, nchw, 72 * 2**20).elementwise_bytes < walked


def test_eval_peak_memory_by_hand():
    """conv (image -> y), batch norm (y -> z), in-place ReLU: y is freed once batch norm has
    read it, so the peak is the first kernel's, image + y (+ autocast's copy of an fp32 image)."""
    net = _one_block()
    n, n_in = 8 * 4 * 4, 4 * 4 * 4
    # fp16 input: at the conv image + y = 128 + 256 B; at batch norm y + z = 512 B
    assert cn.inference_peak_bytes(net, 1, 2, False, 2) == 2 * n * 2
    # fp32 input: image 256 + its fp16 copy 128 + y 256 at the conv
    assert cn.inference_peak_bytes(net, 1, 2, False, 4) == n_in * 4 + n_in * 2 + n * 2
    assert cn.inference_peak_bytes(net, 5, 2, False, 4) == 5 * (n_in * 4 + n_in * 2 + n * 2)


def test_resnet50_inference_uses_the_eval_layer_model():
    m = find_model("resnet50")
    kw = dict(task="infer", precision="fp16", batch_size=256)
    nchw = perf.throughput_of(shape(m, job("RTX 3090", memory_format="nchw", **kw)))
    last = perf.throughput_of(shape(m, job("RTX 3090", memory_format="channels_last", **kw)))
    assert nchw.flops_per_sample == pytest.approx(m.gflops_per_sample * 1e9, rel=0.01)
    assert set(nchw.step_parts_s) == {
        "convolutions",
        "memory-bound ops (norms, activations, adds, pools, layout transposes)",
    }
    assert sum(nchw.step_parts_s.values()) == pytest.approx(nchw.step_time_s)
    # the RTX 3090's fp16 tensor rate outruns its 936 GB/s on ResNet-50's element-wise work
    assert nchw.bound == "memory-bandwidth"
    assert last.samples_per_s > nchw.samples_per_s  # no layout transposes
    # each GPU runs forward passes of the batch: two GPUs, twice the images
    two = perf.throughput_of(shape(m, job("RTX 3090", n_gpus=2, memory_format="nchw", **kw)))
    assert two.samples_per_s == pytest.approx(2 * nchw.samples_per_s)


def test_resnet50_inference_memory_is_the_live_set_not_the_training_activations():
    """timm ran ResNet-50 at batch 1024 (fp16 autocast) on a 24 GB RTX 3090
    (calibration_points.csv timm-infer-resnet50-3090-*): the activations autograd would keep
    (43.8 MB per image) are not held without autograd."""
    from dlrig.estimate.job import memory

    m = find_model("resnet50")
    j = job("RTX 3090", task="infer", precision="fp16", batch_size=1024, memory_format="nchw")
    est = memory(m, j)
    net = cn.build("bottleneck:3-4-6-3", 224)
    assert est.activations_gb == pytest.approx(cn.inference_peak_bytes(net, 1024, 2, True, 4) / 1e9)
    assert est.activations_gb < 1024 * m.activation_mb_per_sample / 2 / 1e3 / 4
    assert est.verdict == "fits"


def test_cnn_inference_says_how_it_was_priced():
    from dlrig.estimate import explain

    m = find_model("resnet50")
    kw = dict(task="infer", precision="fp16", batch_size=64)
    nchw = explain.assumptions(shape(m, job("RTX 3090", memory_format="nchw", **kw)))
    last = explain.assumptions(shape(m, job("RTX 3090", memory_format="channels_last", **kw)))
    assert any("eval-mode forward passes" in a and "NCHW's transposes" in a for a in nchw)
    assert any("eval-mode forward passes" in a and "NCHW" not in a for a in last)
    assert any(a.startswith("activations: the most tensors alive at once") for a in nchw)
    cited = explain.sources(shape(m, job("RTX 3090", memory_format="nchw", **kw)))
    assert any(c.startswith("streaming bandwidth") for c in cited)
