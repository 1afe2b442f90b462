"""What the input pipeline must deliver at the estimated speed (the guide's "Hard drive/SSD" and
"CPU" sections: bytes per batch over time per batch)."""

from __future__ import annotations

from dlrig.estimate import params as p
from dlrig.model.estimate import DataRateEstimate
from dlrig.model.workload import Job, ModelSpec, Task

KB = 1e3
MB = 1e6
GB = 1e9
# Token ids as the model gets them: int64 input_ids plus int64 labels (PyTorch's default index
# dtype), per token. On disk a pre-tokenised corpus stores 2-byte ids when the vocabulary fits
# in 16 bits, 4-byte ids otherwise (as nanoGPT's uint16 .bin files do).
TOKEN_TENSOR_BYTES = 16
UINT16_VOCAB = 2**16
# The guide copies float32 images: 3 x 224 x 224 x 4 B per ImageNet image.
IMAGE_CHANNELS = 3
IMAGENET_SIDE = 224  # pixels; the side assumed when the model preset does not name one
FLOAT32_BYTES = 4


def token_rate(tokens_per_s: float, n_gpus: int, vocab: int | None) -> DataRateEstimate:
    disk_bytes = 2 if (vocab or 0) <= UINT16_VOCAB else 4
    return DataRateEstimate(
        disk_mbs=tokens_per_s * disk_bytes / MB,
        pcie_gbs=tokens_per_s / n_gpus * TOKEN_TENSOR_BYTES / GB,
        cpu_cores=None,
        bytes_per_sample=disk_bytes,
        note=(
            f"pre-tokenised text: {disk_bytes} B per token on disk, {TOKEN_TENSOR_BYTES} B per "
            "token copied (int64 ids and labels); a language model is never input-bound on "
            "disk or PCIe, tokenising on the fly costs CPU instead"
        ),
    )


def image_tensor_bytes(m: ModelSpec) -> int:
    """One image as copied to the GPU: a float32 RGB crop at the model's input size."""
    side = m.image_size or IMAGENET_SIDE
    return IMAGE_CHANNELS * side * side * FLOAT32_BYTES


def image_rate(m: ModelSpec, job: Job, samples_per_s: float) -> DataRateEstimate:
    side = m.image_size or IMAGENET_SIDE
    tensor_bytes = image_tensor_bytes(m)
    read_bytes = job.sample_bytes or p.value("imagenet_jpeg_bytes")
    cores = samples_per_s / p.value("jpeg_decode_images_per_core_s")
    stated = "as given" if job.sample_bytes else "an average ImageNet JPEG"
    return DataRateEstimate(
        disk_mbs=samples_per_s * read_bytes / MB,
        pcie_gbs=samples_per_s / job.n_gpus * tensor_bytes / GB,
        cpu_cores=cores,
        bytes_per_sample=read_bytes,
        note=(
            f"{read_bytes / KB:.0f} kB read per image ({stated}); {side}x{side} float32 copied; "
            f"decode and augment at {p.value('jpeg_decode_images_per_core_s'):g} images/s per core"
        ),
    )


def rate(
    m: ModelSpec, job: Job, tokens_per_s: float | None, samples_per_s: float | None
) -> DataRateEstimate:
    if job.task == Task.INFER and m.is_language_model:
        return DataRateEstimate(
            disk_mbs=0.0,
            pcie_gbs=0.0,
            cpu_cores=None,
            bytes_per_sample=0.0,
            note="inference: prompts in, tokens out; the input pipeline is negligible",
        )
    if m.is_language_model and tokens_per_s is not None:
        return token_rate(tokens_per_s, job.n_gpus, m.vocab_size)
    return image_rate(m, job, samples_per_s or 0.0)
