"""A ResNet-style CNN's training step, layer by layer: each convolution's three kernels at the
tensor rate, and the memory-bound work between the convolutions counted op by op.

The layers come from the preset's `conv_stages` ("bottleneck:3-4-6-3" is ResNet-50) and its
image size, built the way torchvision's resnet.py builds them (ResNet v1.5: the stride of a
downsampling bottleneck sits in its 3x3 convolution, torchvision.models.resnet.Bottleneck; the
stem is a 7x7/2 convolution to 64 channels, batch norm, ReLU and a 3x3/2 max-pool; stage widths
64, 128, 256, 512; a bottleneck expands its width 4x, a basic block 1x; a 1x1 projection with
batch norm on the shortcut where the shape changes; global average pool and a linear head).
ResNet-50 at 224x224 so built has 4.089 G multiply-accumulates, torchvision's published
`_ops` 4.089 for ResNet50_Weights.IMAGENET1K_V1 (tests/estimate/test_convnet.py).

Convolutions (dlrig derivation). A training step runs three kernels per convolution: forward
(y = conv(x, W)), the input gradient (dx from dy and W; not for the stem, whose input, the
image, needs none) and the weight gradient (dW from x and dy), each 2 x MACs FLOPs, timed at the
card's sustained tensor rate x the fitted efficiency (compute.sustained_tflops; the efficiency
is the family's, benchmarks/calibrate.py). A per-kernel roofline (each kernel the longer of its
FLOPs and its operands' bytes at the bandwidth) was tried and is not used: ResNet-50's 1x1
convolutions on 56x56 maps (64 -> 256 channels) do 51 FLOPs per 16-bit byte, below an A100's
or H100's ratio of sustained rate to bandwidth, but adding their operand bytes to the element-
wise count below makes the step slower than published runs on GDDR cards even at the datasheet
rate (Lambda's RTX 3090/4090/A6000 rows, timm's channels_last RTX 3090 run): the DRAM count is
an upper bound there (large L2 caches, 72 MB on AD102, keep some operands on chip; streaming
kernels exceed the 0.8 of datasheet bandwidth efficiencies.csv assumes), and on top of it a
roofline pushed the RTX 4090 / RTX 3090 ratio to 1.38x, below Lambda's measured 1.44x.

Element-wise work (dlrig derivation, one kernel per op as PyTorch's eager CUDA kernels run it:
aten/src/ATen/native/cuda/Normalization.cuh batch_norm_collect_statistics /
batch_norm_transform_input / batch_norm_backward_reduce / batch_norm_backward_elemt, and cuDNN's
cudnnBatchNormalizationForwardTraining / BackwardEx, which read the same tensors; no BN-ReLU
fusion in eager PyTorch), in elements of a convolution's output N, in the activation dtype:
- batch norm forward: a statistics pass reads x, the normalisation reads x and writes y (3N);
  backward: a reduction reads dy and x, the element pass reads dy and x and writes dx (5N);
- ReLU (torchvision's inplace=True) forward reads and writes (2N); backward reads dy and the
  output and writes dx (3N);
- the residual add forward reads two and writes one (3N); backward its gradient passes to both
  branches unchanged, and the block's input, used by the shortcut and by the first convolution,
  sums its two gradients (3 N_in);
- max-pool forward reads its input and writes its output and int64 indices (8 bytes per output,
  max_pool2d_with_indices); backward reads the output gradient and indices and writes the input
  gradient;
- global average pool reads its input forward and writes its gradient backward.
The linear head and the loss (1000 logits per image) are under 0.1 % of this and left out; so
is autocast's per-step weight cast (about 6 bytes per parameter per micro-batch).
A recomputed forward (activation checkpointing) runs the convolutions' forward and the forward
ops again.

NCHW (PyTorch's default layout) with tensor cores: cuDNN's tensor-core convolutions read NHWC,
and NCHW operands are transposed first (NVIDIA Deep Learning Performance guide, "Convolutional
Layers User's Guide", "Tensor Layouts In Memory: NCHW vs NHWC"). dlrig counts one transpose
(read + write) of each activation operand a kernel reads: x for the forward, dy for the input
gradient, x and dy for the weight gradient; the result is written in NCHW by the kernel itself
([R]: cuDNN 8's implicit-GEMM kernels are named ..._nhwckrsc_nchw, NHWC activations and KRSC
filters in, NCHW out, preceded by nchwToNhwcKernel launches in profiles of NCHW AMP training).
For ResNet-50 in fp16 that is 0.17 GB per image. Two published differences bracket it: timm
on an RTX 3090 (PyTorch 1.12) runs NCHW 826 vs channels_last 1218 img/s, 0.39 ms per image
(0.29 GB at 0.8 x 936 GB/s), and Lambda's NCHW run on the same card, 905 img/s, is 0.28 ms per
image slower than timm's channels_last (0.21 GB): the layout's cost depends on the cuDNN
release, and this count sits below both (not fitted to either).

L2 residency (estimate/l2_residency.py). A card with a sourced L2 size (catalog/data/
l2_caches.csv, NVIDIA architecture whitepapers) walks the step's kernels in launch order
(_Sequence: forward convolution, batch-norm statistics, normalisation, in-place ReLU, per
block the projection after the main path, the add and its ReLU; backward in reverse, the
projection's branch first, each convolution's data gradient before its weight gradient, cuDNN's
NCHW transposes where they run) and does not bill to DRAM a read whose tensor, by the LRU
reuse-distance bound, is still in L2; writes stay billed. A card without a row keeps the
DRAM-only count above, which is what the walk gives with no cache. The rule is batch-sensitive
by construction: ResNet-50's activations grow with the micro-batch, so at Lambda's batch 448
only stage 4's tensors (22-90 MB at fp16) come near a 72 MB L2 and 0.3 % of the RTX 4090's
element-wise bytes are saved; at batch 32, 22 % (NCHW) to 28 % (channels_last).

TensorFlow with XLA fuses the element-wise ops into fewer kernels; the Job does not name the
training framework, so those runs are costed with PyTorch's eager count (an upper bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from dlrig.estimate import compute as cp
from dlrig.estimate.l2_residency import Kernel, billed_bytes
from dlrig.model.choices import MemoryFormat
from dlrig.model.workload import Job, ModelKind, ModelSpec

GBS = 1e9
TFLOPS = 1e12
STEM_WIDTH = 64  # torchvision ResNet: conv1 7x7/2, 3 -> 64 channels
STEM_KERNEL, STEM_STRIDE = 7, 2
IMAGE_CHANNELS = 3
STAGE_WIDTHS = (64, 128, 256, 512)
EXPANSION = {"bottleneck": 4, "basic": 1}
INDEX_BYTES = 8  # max_pool2d_with_indices saves int64 indices
BN_FWD, BN_BWD = 3, 5
BN_INFER = 2  # eval mode: one pass with the running statistics, read x and write y
RELU_FWD, RELU_BWD = 2, 3
ADD_FWD, GRAD_SUM_BWD = 3, 3
TRANSPOSE_PASSES = 2  # read + write of each operand transposed


@dataclass(frozen=True)
class Conv:
    """One convolution, per image: input and output elements, weights, multiply-accumulates."""

    c_in: int
    c_out: int
    kernel: int
    h_in: int
    h_out: int
    relu: bool  # batch norm then ReLU (False: batch norm only, before a residual add)
    needs_input_grad: bool = True

    @property
    def n_in(self) -> int:
        return self.c_in * self.h_in * self.h_in

    @property
    def n_out(self) -> int:
        return self.c_out * self.h_out * self.h_out

    @property
    def weights(self) -> int:
        return self.c_in * self.c_out * self.kernel * self.kernel

    @property
    def macs(self) -> int:
        return self.weights * self.h_out * self.h_out


@dataclass(frozen=True)
class Net:
    convs: tuple[Conv, ...]
    block_inputs: tuple[int, ...]  # elements per image of each residual block's input (adds)
    block_outputs: tuple[int, ...]  # elements per image of each block's output (add + ReLU)
    pool_in: int  # max-pool input elements per image
    pool_out: int
    head_in: int  # global average pool input elements
    fc_macs: int
    inner_inputs: int = 0  # elements per image entering a block's 2nd/3rd conv (ReLU outputs)
    # per residual block, in order after the stem (convs[0]): (main convolutions, projection?);
    # the kernel order the L2 count walks (l2_served_bytes). Empty: the convs run as a chain.
    blocks: tuple[tuple[int, bool], ...] = ()


def _out(h: int, stride: int) -> int:
    return (h + stride - 1) // stride


def parse_stages(text: str) -> tuple[str, tuple[int, ...]]:
    kind, _, counts = text.partition(":")
    if kind not in EXPANSION or not counts:
        raise ValueError(f"conv_stages {text!r}: expected basic|bottleneck:N-N-N-N")
    return kind, tuple(int(c) for c in counts.split("-"))


@cache
def build(conv_stages: str, image_size: int, classes: int = 1000) -> Net:
    """The layers of a torchvision ResNet (module docstring) at `image_size`."""
    kind, blocks = parse_stages(conv_stages)
    if len(blocks) > len(STAGE_WIDTHS):
        raise ValueError(f"conv_stages {conv_stages!r}: at most {len(STAGE_WIDTHS)} stages")
    exp = EXPANSION[kind]
    h = _out(image_size, STEM_STRIDE)
    convs = [Conv(IMAGE_CHANNELS, STEM_WIDTH, STEM_KERNEL, image_size, h, True, False)]
    pool_in = STEM_WIDTH * h * h
    h = _out(h, 2)  # max-pool 3x3/2, padding 1
    pool_out = STEM_WIDTH * h * h
    c = STEM_WIDTH
    ins: list[int] = []
    outs: list[int] = []
    inner = 0
    layout: list[tuple[int, bool]] = []
    for i, n in enumerate(blocks):
        w = STAGE_WIDTHS[i]
        for j in range(n):
            s = 2 if (i > 0 and j == 0) else 1
            h2 = _out(h, s)
            ins.append(c * h * h)
            inner += w * h * h if kind == "basic" else w * h * h + w * h2 * h2
            if kind == "bottleneck":
                convs += [
                    Conv(c, w, 1, h, h, True),
                    Conv(w, w, 3, h, h2, True),  # v1.5: the stride in the 3x3
                    Conv(w, w * exp, 1, h2, h2, False),
                ]
            else:
                convs += [Conv(c, w, 3, h, h2, True), Conv(w, w, 3, h2, h2, False)]
            projection = s != 1 or c != w * exp
            if projection:
                convs.append(Conv(c, w * exp, 1, h, h2, False))  # projection shortcut (1x1/s)
            layout.append((3 if kind == "bottleneck" else 2, projection))
            c, h = w * exp, h2
            outs.append(c * h * h)
    head = c * h * h
    return Net(
        tuple(convs),
        tuple(ins),
        tuple(outs),
        pool_in,
        pool_out,
        head,
        c * classes,
        inner,
        tuple(layout),
    )


def macs_per_image(net: Net) -> int:
    return sum(cv.macs for cv in net.convs) + net.fc_macs


def params(net: Net, classes: int = 1000) -> int:
    """Parameters: convolution weights (no bias), two per batch-norm channel, the linear head."""
    bn = sum(2 * cv.c_out for cv in net.convs)
    return sum(cv.weights for cv in net.convs) + bn + net.fc_macs + classes


# int64 max-pool indices, in 4-byte elements
INDEX_ELEMENTS = INDEX_BYTES // 4


def saved_elements_per_image(net: Net) -> int:
    """Elements autograd keeps for the backward pass of one image, each storage once (dlrig
    derivation from the ops' backward formulas): every convolution's input (the image, each
    block's input, shared by its first convolution and its projection, and the ReLU outputs
    inside a block) and output (batch norm's input); the stem's ReLU output and the max-pool's
    indices; the last block's output (the average pool's input). ResNet-50: 21.5 M elements,
    85.9 MB at fp32, the preset's measured saved_tensors_hooks figure (models.csv)."""
    conv_in = net.convs[0].n_in + sum(net.block_inputs) + net.inner_inputs
    conv_out = sum(cv.n_out for cv in net.convs)
    stem = net.pool_in + INDEX_ELEMENTS * net.pool_out
    return conv_in + conv_out + stem + net.head_in


@dataclass(frozen=True)
class Step:
    """One micro-batch's training step of a CNN, split as perf.train_work composes it."""

    conv_s: float  # convolutions' three kernels each at the sustained rate x efficiency
    elementwise_s: float  # batch norm, ReLU, adds, pools (and NCHW transposes) at the bandwidth
    flops: float  # executed FLOPs (the three kernels per convolution, recompute included)
    elementwise_bytes: float


def elementwise_bytes_per_image(net: Net, e: int, recompute: bool) -> float:
    """Bytes the element-wise ops of one image stream in a training step (module docstring)."""
    fwd = bwd = 0.0
    for cv in net.convs:
        fwd += BN_FWD * cv.n_out * e
        bwd += BN_BWD * cv.n_out * e
        if cv.relu:
            fwd += RELU_FWD * cv.n_out * e
            bwd += RELU_BWD * cv.n_out * e
    for n in net.block_outputs:  # the add, then its ReLU
        fwd += (ADD_FWD + RELU_FWD) * n * e
        bwd += RELU_BWD * n * e
    bwd += sum(GRAD_SUM_BWD * n * e for n in net.block_inputs)
    fwd += net.pool_in * e + net.pool_out * (e + INDEX_BYTES)
    bwd += net.pool_out * (e + INDEX_BYTES) + net.pool_in * e
    fwd += net.head_in * e
    bwd += net.head_in * e
    return fwd * (2 if recompute else 1) + bwd


class _Sequence:
    """The kernels of one training step in launch order (module docstring), each access sized
    in bytes for the micro-batch; the forward kernels first, then the backward ones."""

    def __init__(self, net: Net, batch: int, e: int, nchw: bool, inference: bool = False) -> None:
        self.net, self.batch, self.e, self.nchw = net, batch, e, nchw
        # eval mode: batch norm normalises with its running statistics (no statistics pass)
        self.inference = inference
        self.fwd: list[Kernel] = []
        self.bwd: list[Kernel] = []

    def act(self, tensor: str, elements: int) -> tuple[str, float]:
        return tensor, float(elements * self.batch * self.e)

    def forward_conv(self, i: int, x: str) -> str:
        """Convolution i on input x, its batch norm and ReLU; returns its output's id."""
        cv, k = self.net.convs[i], self.fwd
        if self.nchw:  # the input transposed to NHWC before the kernel
            k.append(Kernel((self.act(x, cv.n_in),), (self.act(f"xT{i}", cv.n_in),)))
            x = f"xT{i}"
        weights = (f"W{i}", float(cv.weights * self.e))
        k.append(Kernel((self.act(x, cv.n_in), weights), (self.act(f"y{i}", cv.n_out),), False))
        if not self.inference:
            k.append(Kernel((self.act(f"y{i}", cv.n_out),)))  # batch-norm statistics
        k.append(Kernel((self.act(f"y{i}", cv.n_out),), (self.act(f"z{i}", cv.n_out),)))
        if cv.relu:  # in place
            k.append(Kernel((self.act(f"z{i}", cv.n_out),), (self.act(f"z{i}", cv.n_out),)))
        return f"z{i}"

    def backward_conv(self, i: int, g: str, x: str) -> str:
        """Backward of convolution i given its output's gradient g and its input x: ReLU, batch
        norm, the input gradient (cuDNN's order: data gradient, then weight gradient)."""
        cv, k = self.net.convs[i], self.bwd
        if cv.relu:
            k.append(
                Kernel(
                    (self.act(g, cv.n_out), self.act(f"z{i}", cv.n_out)),
                    (self.act(f"gr{i}", cv.n_out),),
                )
            )
            g = f"gr{i}"
        pair = (self.act(g, cv.n_out), self.act(f"y{i}", cv.n_out))
        k.append(Kernel(pair))  # batch-norm backward reduction
        k.append(Kernel(pair, (self.act(f"dy{i}", cv.n_out),)))
        weights = (f"W{i}", float(cv.weights * self.e))
        dy, dx = f"dy{i}", f"dx{i}"
        if cv.needs_input_grad:
            src = dy
            if self.nchw:
                k.append(Kernel((self.act(dy, cv.n_out),), (self.act(f"dyT{i}", cv.n_out),)))
                src = f"dyT{i}"
            k.append(Kernel((self.act(src, cv.n_out), weights), (self.act(dx, cv.n_in),), False))
        if self.nchw:
            k.append(Kernel((self.act(x, cv.n_in),), (self.act(f"xTw{i}", cv.n_in),)))
            k.append(Kernel((self.act(dy, cv.n_out),), (self.act(f"dyTw{i}", cv.n_out),)))
            x, dy = f"xTw{i}", f"dyTw{i}"
        dw = (f"dW{i}", float(cv.weights * self.e))
        k.append(Kernel((self.act(x, cv.n_in), self.act(dy, cv.n_out)), (dw,), False))
        return dx

    def build(self) -> None:
        self.build_forward()
        if not self.inference:
            self.build_backward()

    def build_forward(self) -> None:
        net, f = self.net, self.fwd
        index = ("idx", float(net.pool_out * self.batch * INDEX_BYTES))
        z = self.forward_conv(0, "image")
        f.append(Kernel((self.act(z, net.pool_in),), (self.act("pool", net.pool_out), index)))
        chain = [(i, 1, False) for i in range(1, len(net.convs))] if not net.blocks else []
        i, a, starts = 1, "pool", []
        for main, projection in net.blocks:  # a residual block: main path, shortcut, add, ReLU
            starts.append((i, main, projection, a))
            z = a
            for m in range(main):
                z = self.forward_conv(i + m, z)
            p = self.forward_conv(i + main, a) if projection else a
            n = net.block_outputs[len(starts) - 1]
            out = f"out{len(starts) - 1}"
            f.append(Kernel((self.act(z, n), self.act(p, n)), (self.act(out, n),)))
            f.append(Kernel((self.act(out, n),), (self.act(out, n),)))  # ReLU in place
            i, a = i + main + (1 if projection else 0), out
        for j, _, _ in chain:
            a = self.forward_conv(j, a if j > 1 else z)
        f.append(Kernel((self.act(a, net.head_in),)))  # global average pool
        self._starts, self._chain, self._index = starts, chain, index

    def build_backward(self) -> None:
        net, b = self.net, self.bwd
        starts, chain, index = self._starts, self._chain, self._index
        b.append(Kernel((), (self.act("dhead", net.head_in),)))
        g = "dhead"
        for j, _, _ in reversed(chain):
            g = self.backward_conv(j, g, f"z{j - 1}" if j > 1 else "pool")
        for blk in reversed(range(len(starts))):
            first, main, projection, a = starts[blk]
            n = net.block_outputs[blk]
            out = f"out{blk}"
            b.append(Kernel((self.act(g, n), self.act(out, n)), (self.act(f"gout{blk}", n),)))
            g = f"gout{blk}"
            # autograd runs the most recently created node first: the projection, built after
            # the main path's last batch norm (torchvision Bottleneck.forward)
            dp = self.backward_conv(first + main, g, a) if projection else g
            gm = g
            for m in reversed(range(main)):
                gm = self.backward_conv(first + m, gm, a if m == 0 else f"z{first + m - 1}")
            n_in = net.block_inputs[blk]
            reads = (self.act(gm, n_in), self.act(dp, n_in))
            b.append(Kernel(reads, (self.act(f"da{blk}", n_in),)))  # the two gradients summed
            g = f"da{blk}"
        pool_grad = (self.act(g, net.pool_out)[0], float(net.pool_out * self.batch * self.e))
        b.append(Kernel((pool_grad, index), (self.act("dz0", net.pool_in),)))
        self.backward_conv(0, "dz0", "image")


@cache
def l2_served_elementwise_bytes(
    net: Net,
    batch: int,
    e: int,
    nchw: bool,
    recompute: bool,
    l2_bytes: float | None,
    inference: bool = False,
) -> float:
    """DRAM bytes of one micro-batch's element-wise ops and NCHW transposes, each read served
    from L2 when the residency rule says so (estimate/l2_residency.py). With no L2 (None or
    0) it equals elementwise_bytes_per_image x batch plus train_step's transposes. A recomputed
    forward bills the forward's bytes twice (its hits taken as the first forward's). With
    `inference`, the eval-mode forward pass alone (infer_step)."""
    seq = _Sequence(net, batch, e, nchw, inference)
    seq.build()
    billed = billed_bytes(seq.fwd + seq.bwd, l2_bytes)
    fwd = sum(billed[: len(seq.fwd)])
    return fwd * (2 if recompute else 1) + sum(billed[len(seq.fwd) :])


def _rates(
    sustained_tflops: float, efficiency: float, mem_bw_gbs: float, bw_fraction: float
) -> tuple[float, float]:
    """The convolutions' FLOP rate and the element-wise ops' bandwidth (FLOP/s, bytes/s)."""
    if not (sustained_tflops > 0 and efficiency > 0 and mem_bw_gbs > 0 and bw_fraction > 0):
        raise ValueError("rates and efficiency must be positive")
    return sustained_tflops * TFLOPS * efficiency, mem_bw_gbs * GBS * bw_fraction


def train_step(
    net: Net,
    batch: int,
    e: int,
    sustained_tflops: float,
    efficiency: float,
    mem_bw_gbs: float,
    bw_fraction: float,
    nchw: bool,
    recompute: bool,
    l2_bytes: float | None = None,
) -> Step:
    """Time of one micro-batch of `batch` images: every convolution's forward, input-gradient
    and weight-gradient kernel at the sustained rate x efficiency, plus the element-wise ops
    (and NCHW's transposes) at the bandwidth."""
    rate, bw = _rates(sustained_tflops, efficiency, mem_bw_gbs, bw_fraction)
    conv_s = flops = transposes = 0.0
    for cv in net.convs:
        kernel_flops = 2.0 * cv.macs * batch
        kernels = (2 if recompute else 1) + 1 + (1 if cv.needs_input_grad else 0)
        conv_s += kernels * kernel_flops / rate
        flops += kernels * kernel_flops
        if nchw:  # each kernel's NCHW activation operands transposed to NHWC (docstring)
            fwd_in = (2 if recompute else 1) * cv.n_in
            dgrad_in = cv.n_out if cv.needs_input_grad else 0
            wgrad_in = cv.n_in + cv.n_out
            transposes += TRANSPOSE_PASSES * (fwd_in + dgrad_in + wgrad_in) * batch * e
    # The head's GEMM (2048 x 1000 per image): three small GEMMs at the sustained rate.
    head_flops = 3 * 2.0 * net.fc_macs * batch
    conv_s += head_flops / rate
    flops += head_flops
    if l2_bytes:  # the card's L2 size is sourced: reads it keeps are not billed to DRAM
        ew = l2_served_elementwise_bytes(net, batch, e, nchw, recompute, l2_bytes)
    else:  # the closed form of the same count with no cache (l2_served_elementwise_bytes)
        ew = elementwise_bytes_per_image(net, e, recompute) * batch + transposes
    return Step(conv_s, ew / bw, flops, ew)


def infer_elementwise_bytes_per_image(net: Net, e: int, nchw: bool) -> float:
    """Bytes one image's forward streams in eval mode with no cache (module docstring's counts,
    forward only): batch norm normalises with its running statistics, one pass that reads x and
    writes y (2N; cudnnBatchNormalizationForwardInference, PyTorch's batch_norm in eval); ReLU,
    the residual add and the pools as in training; with NCHW each convolution's input
    transposed once (read + write)."""
    by = 0.0
    for cv in net.convs:
        by += BN_INFER * cv.n_out * e
        if cv.relu:
            by += RELU_FWD * cv.n_out * e
        if nchw:
            by += TRANSPOSE_PASSES * cv.n_in * e
    for n in net.block_outputs:  # the add, then its ReLU
        by += (ADD_FWD + RELU_FWD) * n * e
    by += net.pool_in * e + net.pool_out * (e + INDEX_BYTES)
    by += net.head_in * e
    return by


def infer_step(
    net: Net,
    batch: int,
    e: int,
    sustained_tflops: float,
    efficiency: float,
    mem_bw_gbs: float,
    bw_fraction: float,
    nchw: bool,
    l2_bytes: float | None = None,
) -> Step:
    """Time of one forward pass of `batch` images in eval mode (inference): each convolution's
    forward kernel at the sustained rate x efficiency, plus the forward's element-wise ops (and
    NCHW's transposes) at the bandwidth, reads kept in L2 not billed (l2_residency.py)."""
    rate, bw = _rates(sustained_tflops, efficiency, mem_bw_gbs, bw_fraction)
    flops = 2.0 * (sum(cv.macs for cv in net.convs) + net.fc_macs) * batch
    conv_s = flops / rate
    if l2_bytes:
        ew = l2_served_elementwise_bytes(net, batch, e, nchw, False, l2_bytes, inference=True)
    else:
        ew = infer_elementwise_bytes_per_image(net, e, nchw) * batch
    return Step(conv_s, ew / bw, flops, ew)


@cache
def inference_peak_bytes(net: Net, batch: int, e: int, nchw: bool, input_bytes: int) -> float:
    """The most activation memory alive at once in one forward pass with no autograd (dlrig
    derivation): walking the eval-mode kernels in launch order, a tensor lives from the kernel
    that writes it to the last kernel that reads it (PyTorch frees a tensor when its last
    reference goes: inside a block the main path's tensors, the shortcut's input until the
    add); in-place ReLUs allocate nothing; NCHW's transposed copies live for their
    convolution. The input batch is held in `input_bytes` per element (a loader's fp32
    tensor) with, when the convolutions run in another dtype, autocast's copy of it alive for
    the stem. Weights are counted with the weights, not here."""
    seq = _Sequence(net, batch, e, nchw, inference=True)
    seq.build()
    kernels = seq.fwd
    first: dict[str, int] = {"image": 0}
    last: dict[str, int] = {}
    size: dict[str, float] = {"image": float(net.convs[0].n_in * batch * input_bytes)}
    for k, kern in enumerate(kernels):
        for tensor, nbytes in kern.reads + kern.writes:
            if tensor.startswith("W"):  # weights
                continue
            first.setdefault(tensor, k)
            last[tensor] = k
            size.setdefault(tensor, nbytes)
    if input_bytes != e:  # autocast's cast of the input, alive while the stem reads it
        size["image_cast"] = float(net.convs[0].n_in * batch * e)
        first["image_cast"], last["image_cast"] = 0, 1 if nchw else 0
    return max(
        sum(size[t] for t in size if first[t] <= k <= last.get(t, k)) for k in range(len(kernels))
    )


def transposes_nchw(m: ModelSpec, job: Job) -> bool:
    """Whether a CNN's NCHW activations are transposed around each convolution: only where
    tensor cores run the convolutions (16-bit, or TF32 from Ampere on)."""
    return (
        m.kind == ModelKind.CNN
        and job.memory_format == MemoryFormat.NCHW
        and cp.conv_precision(job.precision.value, job.gpu) != "fp32"
    )


# step_parts_s names of a CNN forward pass (perf.cnn_infer)
CONV_PART = "convolutions"
MEMORY_PART = "memory-bound ops (norms, activations, adds, pools, layout transposes)"


def net_of(m: ModelSpec) -> Net | None:
    """The preset's layers, when it describes them (conv_stages and image_size)."""
    if not (m.conv_stages and m.image_size):
        return None
    return build(m.conv_stages, m.image_size)
