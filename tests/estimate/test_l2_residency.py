"""Which element-wise reads the L2 cache serves (estimate/l2_residency.py): hand-computed
reuse distances, and the CNN step's count with and without a cache (estimate/convnet.py)."""

from __future__ import annotations

import pytest

from dlrig.estimate import convnet as cn
from dlrig.estimate.l2_residency import Kernel, billed_bytes


def _write_then_read() -> list[Kernel]:
    """Kernel 0 writes T (10 bytes); kernel 1 reads T and writes U (10 bytes)."""
    return [Kernel((), (("T", 10.0),)), Kernel((("T", 10.0),), (("U", 10.0),))]


def test_a_tensor_the_previous_kernel_wrote_is_read_from_l2_when_it_fits():
    # reuse distance of T at kernel 1: T and U, 20 bytes
    assert billed_bytes(_write_then_read(), 20.0) == [10.0, 10.0]  # the read is free
    assert billed_bytes(_write_then_read(), 19.0) == [10.0, 20.0]  # one byte short: DRAM
    assert billed_bytes(_write_then_read(), None) == [10.0, 20.0]


def test_a_tensor_never_touched_before_is_read_from_dram():
    kernels = [Kernel((("X", 10.0),), (("Y", 10.0),))]
    assert billed_bytes(kernels, 1e9) == [20.0]


def test_a_convolution_in_between_pushes_the_tensor_out_and_is_not_billed():
    kernels = [
        Kernel((), (("T", 10.0),)),
        Kernel((("T", 10.0),), (("V", 30.0),), streamed=False),  # a convolution
        Kernel((("T", 10.0),), (("W", 10.0),)),
    ]
    # T's last touch is the convolution: T + V + W = 50 bytes
    assert billed_bytes(kernels, 50.0) == [10.0, 0.0, 10.0]
    assert billed_bytes(kernels, 49.0) == [10.0, 0.0, 20.0]


def _stem_only() -> cn.Net:
    """One 1x1 convolution, 16 -> 8 channels on a 4x4 map, batch norm and ReLU (the stem: no
    input gradient); no pool, no blocks, no head."""
    conv = cn.Conv(16, 8, 1, 4, 4, relu=True, needs_input_grad=False)
    return cn.Net((conv,), (), (), 0, 0, 0, 0)


# N = 8 x 16 x 2 bytes = 256 (output), X = 16 x 16 x 2 = 512 (input), W = 16 x 8 x 2 = 256.
# Reuse distances by hand: BN statistics reads y after the convolution (X + W + N = 1024);
# the normalisation reads y after the statistics (y, z: 2N = 512); ReLU reads z (2N);
# backward: ReLU reads dz and z (dz, z, its output: 3N = 768), the BN reduction reads the
# ReLU's gradient and y (4N = 1024), the element pass reads both again after it (3N = 768).
N = 256
CASES = [
    (None, 13 * N),  # DRAM only: (3 + 2 + 5 + 3) N
    (511.0, 13 * N),  # below 2N: nothing fits
    (512.0, 11 * N),  # the normalisation's and ReLU's reads of the tensor just written
    (800.0, 7 * N),  # and the backward ReLU's and element pass's reads (3N)
    (1024.0, 4 * N),  # every read: only the four writes (y->z, ReLU, dz, dx) remain
]


@pytest.mark.parametrize(("l2", "expected"), CASES)
def test_conv_bn_relu_reads_served_from_l2_by_hand(l2, expected):
    assert cn.l2_served_elementwise_bytes(_stem_only(), 1, 2, False, False, l2) == expected


def test_a_bigger_batch_pushes_the_same_tensors_out_of_the_cache():
    # batch 2 doubles every tensor: 1024 bytes of L2 now covers only the 2N distances
    assert cn.l2_served_elementwise_bytes(_stem_only(), 2, 2, False, False, 1024.0) == 2 * 11 * N


@pytest.mark.parametrize("nchw", [False, True])
@pytest.mark.parametrize("recompute", [False, True])
def test_without_a_cache_the_kernel_walk_equals_the_closed_form_count(nchw, recompute):
    net = cn.build("bottleneck:3-4-6-3", 224)
    step = cn.train_step(net, 2, 2, 100.0, 0.5, 1000.0, 0.8, nchw, recompute)
    walk = cn.l2_served_elementwise_bytes(net, 2, 2, nchw, recompute, None)
    assert walk == pytest.approx(step.elementwise_bytes, rel=1e-12)


def test_resnet50_on_a_72_mb_l2_saves_more_at_batch_32_than_at_448():
    # Lambda's RTX 4090 run is batch 448: its activations (45-720 MB a tensor at fp16 outside
    # stage 4) are far larger than 72 MB, so almost no read stays in L2 there
    net = cn.build("bottleneck:3-4-6-3", 224)
    l2 = 73728 * 1024.0

    def share(batch: int) -> float:
        dram = cn.l2_served_elementwise_bytes(net, batch, 2, True, False, None)
        return cn.l2_served_elementwise_bytes(net, batch, 2, True, False, l2) / dram

    assert share(32) < share(448) <= 1.0
    assert share(448) > 0.99
    step = cn.train_step(net, 32, 2, 100.0, 0.5, 1000.0, 0.8, True, False, l2)
    assert step.elementwise_bytes == cn.l2_served_elementwise_bytes(net, 32, 2, True, False, l2)
