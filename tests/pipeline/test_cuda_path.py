"""The CUDA path's logic against a logging fake of torch (no GPU here), plus real-CUDA tests
that run only where a GPU is present."""

from __future__ import annotations

import pytest

from dlrig.pipeline import Prefetcher
from dlrig.pipeline import cuda as cuda_mod


def batches(fake, n):
    T = fake.Tensor
    return [{"x": T(i), "y": (T(i, pinned=True), "label", i)} for i in range(n)]


def test_batches_arrive_on_the_device_in_order_with_other_leaves_unchanged(torch_fake):
    out = list(Prefetcher(batches(torch_fake, 5), device="cuda", depth=2))
    assert [b["x"].value for b in out] == list(range(5))
    assert all(b["x"].device.type == "cuda" and b["y"][0].device.type == "cuda" for b in out)
    assert [b["y"][1:] for b in out] == [("label", i) for i in range(5)]


def test_pinning_happens_in_the_background_thread_and_only_when_needed(torch_fake):
    list(Prefetcher(batches(torch_fake, 4), device="cuda"))
    pins = [e for e in torch_fake.log if e[0] == "pin"]
    assert [p[1] for p in pins] == [0, 1, 2, 3]  # "x" only: "y"[0] was already pinned
    assert {p[2] for p in pins} == {"dlrig-prefetch"}


def test_each_copy_is_ordered_after_the_consumer_and_before_the_consumer_uses_it(torch_fake):
    list(Prefetcher(batches(torch_fake, 3), device="cuda"))
    log = torch_fake.log
    copies = [i for i, e in enumerate(log) if e[0] == "copy"]
    assert copies
    for i in copies:
        _, _, stream, non_blocking, pinned = log[i]
        assert stream.startswith("side") and non_blocking and pinned
    # per batch, in the background thread: allocate on the side stream, record an event on the
    # consumer's stream, the side stream waits on it, the copies, an event on the side stream
    background = [
        (e[0], e[2] if e[0] in ("copy", "alloc") else e[1])
        for e in log
        if e[0] in ("record", "wait", "copy", "alloc")
        and (e[0] == "copy" or e[3] == "dlrig-prefetch")
    ]
    per_batch = [("alloc", "side1"), ("alloc", "side1"), ("record", "default"), ("wait", "side1")]
    per_batch += [("copy", "side1"), ("copy", "side1"), ("record", "side1")]
    assert background == per_batch * 3
    waits = [e for e in log if e[0] == "wait"]
    consumer_waits = [w for w in waits if w[1] == "default"]
    assert len(consumer_waits) == 3
    assert {w[3] for w in consumer_waits} == {"MainThread"}
    side_waits = [w for w in waits if w[1] == "side1"]
    recorded = {e[2]: e[1] for e in log if e[0] == "record"}
    assert all(recorded[w[2]] == "default" for w in side_waits)  # side waits on consumer events
    done = {w[2] for w in consumer_waits}
    assert all(recorded[e] == "side1" for e in done)  # consumer waits on side-stream events


def test_side_stream_is_created_once_for_all_epochs(torch_fake):
    p = Prefetcher(batches(torch_fake, 2), device="cuda")
    list(p)
    list(p)
    assert torch_fake.cuda.streams_made == 1


def test_keepalive_is_bounded_when_copies_never_finish(torch_fake):
    torch_fake.cuda.complete_events = False
    depth = 2
    it = iter(Prefetcher(batches(torch_fake, 20), device="cuda", depth=depth))
    for _ in range(10):
        next(it)
        assert len(it._keepalive) <= depth + cuda_mod.KEEPALIVE_EXTRA
    synced = [e for e in torch_fake.log if e[0] == "synchronize"]
    assert synced, "the oldest copy must be waited for before its source is dropped"
    it.close()
    assert not it._keepalive


def test_keepalive_released_when_copies_complete(torch_fake):
    it = iter(Prefetcher(batches(torch_fake, 10), device="cuda"))
    for _ in range(10):
        next(it)
    assert len(it._keepalive) <= 1
    assert not [e for e in torch_fake.log if e[0] == "synchronize"]


def test_profile_on_cuda_times_copies_and_compute_with_events(torch_fake):
    from dlrig.pipeline import profile

    loader = batches(torch_fake, 12)
    r = profile(loader, lambda b: None, steps=8, device="cuda", utilization_fn=lambda: 50.0)
    assert r.device == "cuda" and r.steps == 8
    # fake events: 1 "ms" per event in between; mark, move, mark, step, mark -> 1 ms each
    assert r.h2d_s == pytest.approx(1e-3) and r.compute_s == pytest.approx(1e-3)
    assert r.gpu_util_pct == pytest.approx(50.0)
    plain_copies = [e for e in torch_fake.log if e[0] == "copy" and e[2] == "default"]
    assert plain_copies and not any(e[3] for e in plain_copies[:8])  # the loop's blocking copies
    assert any(e[3] and e[4] for e in plain_copies)  # the pinned, non-blocking measurement
    assert r.stages is not None and r.stages.h2d_pinned_s is not None
    assert (
        next(p for p in r.predictions if p.fix == "pinned").reason
        != "no host-to-device copy measured (CPU run)"
    )


def test_cuda_unavailable_is_a_clear_value_error(torch_fake_no_cuda):
    with pytest.raises(ValueError, match=r"torch.cuda.is_available\(\) is False"):
        Prefetcher(range(3), device="cuda")


def test_real_torch_without_cuda_is_a_clear_value_error():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="is_available"):
        Prefetcher(range(3), device="cuda")


def _cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the real-GPU path is exercised on a GPU machine only")
    return torch


def test_real_cuda_batches_land_intact_when_the_consumer_lags():
    torch = _cuda()
    n = 20
    host = [{"x": torch.full((1 << 20,), i, dtype=torch.float32)} for i in range(n)]
    kept = []
    for b in Prefetcher(host, device="cuda", depth=2):
        torch.cuda._sleep(1_000_000)  # the consumer is slow; the CPU runs ahead
        assert b["x"].is_cuda
        kept.append(b["x"].sum())
    torch.cuda.synchronize()
    assert [int(k.item()) for k in kept] == [i * (1 << 20) for i in range(n)]


def test_real_cuda_memory_is_flat_across_epochs():
    torch = _cuda()
    host = [torch.ones(1 << 20) for _ in range(8)]
    p = Prefetcher(host, device="cuda", depth=2)
    list(p)
    torch.cuda.synchronize()
    first = torch.cuda.memory_reserved()
    for _ in range(5):
        for b in p:
            b.mul_(2)
    torch.cuda.synchronize()
    assert torch.cuda.memory_reserved() <= first * 1.5
