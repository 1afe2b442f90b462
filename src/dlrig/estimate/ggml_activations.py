"""What llama.cpp's prefill moves through DRAM between its GEMMs: F32 activations, op by op.

ggml's CUDA backend keeps a layer's activations in F32 between operations: every quantized
matmul takes an F32 input and writes an F32 output (ggml/src/ggml-cuda/mmq.cu,
ggml_cuda_mul_mat_q: "GGML_ASSERT(src1->type == GGML_TYPE_F32); GGML_ASSERT(dst->type ==
GGML_TYPE_F32);") and first runs a kernel of its own that reads that F32 input and writes
it as block_q8_1_mmq (quantize_mmq_q8_1_cuda into a pool buffer, 144 bytes per 128 values),
once per matmul call (ggml-org/llama.cpp at 027ef8769913a5f665e287c5e1f13d9d633a9d57). The
element-wise operations between the matmuls are kernels of their own too, each reading its
F32 inputs from DRAM and writing its F32 output: a prompt chunk's tokens x hidden activations
(2048 x 3584 x 4 B = 29 MB for Qwen2.5-7B) are far past any L2, so nothing is counted as
served from it. These kernels do no matmul work, so they add to the chunk's time at the
card's streaming bandwidth (as the dequantisation kernels do: decode.prefill), which is what
makes them weigh on a card whose bandwidth is low for its FLOPs (DGX Spark: 273 GB/s for
125 TFLOPS) and little on a GDDR or HBM card.

The ops of one decoder layer as llama.cpp's graph builds them (llm_build_llama and its kin:
build_norm, the Q/K/V matmuls, RoPE, the KV-cache store, flash attention, the output matmul,
the residual add, build_norm, build_ffn's gate/up matmuls, the fused SwiGLU, down, the add)
and the bytes each moves per token [R: dlrig derivation from that op list; h hidden, q the
query width, kv the key/value width, i the FFN width, F32 = 4 B, block_q8_1_mmq = 1.125 B,
F16 cache = 2 B]:
- RMS norm with its weight multiply fused: read h, write h (F32): 8h, twice a layer;
- the input quantisation of each matmul: read 4 B, write 1.125 B a value: 5.125 per value,
  for Q, K, V (3 x h), the attention output (q), gate and up (2 x h) and down (i);
- RoPE on Q and K: read and write each: 8q + 8kv;
- K and V into the F16 cache: read 4 B, write 2 B a value: 12kv;
- flash attention reads Q and writes its output: 8q (the K/V cache it re-reads per query tile
  is left out: a lower bound);
- the two residual adds: read two, write one: 12h each;
- SwiGLU: read gate and up, write one: 12i.
An MoE layer's FFN is the experts' MUL_MAT_IDs over the k experts a token goes to (each input
quantisation and SwiGLU per routed copy of the token: k x (2 x 5.125h + 17.125 i_e)), the
weighting of the k outputs (read and write k x h: 8kh) and their sum, the chain of k - 1
ADDs that ggml-cuda runs as one kernel (ggml_cuda_op_fused_add, chains of 2 to 8: "GGML_ASSERT(2
<= n_fuse && n_fuse <= 8)"): read k, write one, 4(k + 1)h; plus the shared experts as a dense
FFN of their width (routed width: moe_intermediate_size, else intermediate_size). The
router's few logits are left out. Biases (Qwen2's on Q/K/V) are not counted: the model
presets do not say which models have them.
"""

from __future__ import annotations

from dlrig.model.workload import ModelSpec

F32 = 4.0
Q8_1_MMQ = 144 / 128  # block_q8_1_mmq: bytes per activation value
F16 = 2.0
NORM = 2 * F32  # read, write
QUANTISE = F32 + Q8_1_MMQ  # one matmul's input, per value
ROPE = 2 * F32
KV_STORE = F32 + F16
ATTENTION_IO = 2 * F32  # flash attention: read Q, write the output
ADD = 3 * F32  # read two, write one
GLU = 3 * F32  # SwiGLU: read gate and up, write one


def _widths(m: ModelSpec) -> tuple[int, int, int] | None:
    h, heads = m.hidden_size, m.n_heads
    if not h or not heads:
        return None
    hd = m.head_dim or h // heads
    return h, heads * hd, (m.n_kv_heads or heads) * hd


def _ffn(h: int, width: int, gated: bool) -> float:
    """A dense FFN of `width`: its input quantised per up matmul, the GLU, down's input."""
    ups = 2 if gated else 1
    glu = GLU * width if gated else NORM * width  # without a gate: the activation alone
    return ups * QUANTISE * h + glu + QUANTISE * width


def attention_bytes(m: ModelSpec) -> float:
    """Bytes per token of a layer's norms, attention-side ops and residual adds."""
    w = _widths(m)
    if w is None:
        return 0.0
    h, q, kv = w
    return (
        2 * NORM * h
        + 3 * QUANTISE * h
        + ROPE * (q + kv)
        + 2 * KV_STORE * kv
        + ATTENTION_IO * q
        + QUANTISE * q
        + 2 * ADD * h
    )


def layer_bytes_per_token(m: ModelSpec, moe: bool) -> float:
    """One layer's bytes per token (module docstring): a dense layer or an MoE one."""
    w = _widths(m)
    if w is None:
        return 0.0
    h = w[0]
    total = attention_bytes(m)
    if not moe:
        return total + (_ffn(h, m.intermediate_size, m.gated_mlp) if m.intermediate_size else 0)
    k, width = m.experts_per_token or 0, m.moe_intermediate_size or m.intermediate_size or 0
    if k and width:
        total += k * _ffn(h, width, m.gated_mlp) + NORM * k * h + F32 * (k + 1) * h
    shared = (m.n_shared_experts or 0) * (m.shared_expert_intermediate_size or width)
    if shared:
        total += _ffn(h, shared, m.gated_mlp) + ADD * h
    return total


def prefill_bytes(m: ModelSpec, tokens: float, layers: float) -> float:
    """Bytes a chunk of `tokens` moves through these kernels over `layers` layers (one GPU's
    share of the model's layers, MoE and dense ones in the model's proportion)."""
    if not m.total_layers:
        return 0.0
    n_moe = max(m.total_layers - m.first_dense_layers, 0) if m.n_experts else 0
    per_layer = (
        n_moe * layer_bytes_per_token(m, moe=True)
        + (m.total_layers - n_moe) * layer_bytes_per_token(m, moe=False)
    ) / m.total_layers
    return tokens * per_layer * layers
