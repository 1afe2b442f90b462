"""profile() times the loader alone on a second pass; a loader that is re-iterable but yields
nothing the second time (a stream that is drained once) used to raise UnboundLocalError there."""

from __future__ import annotations

from dlrig.pipeline import profile
from dlrig.pipeline.profile import _time_loader


class DrainsOnce:
    """Iterable again, but the second pass is empty (like a socket or queue-backed loader)."""

    def __init__(self, n: int) -> None:
        self.items = list(range(n))

    def __iter__(self):
        items, self.items = self.items, []
        return iter(items)


def test_loader_time_is_none_when_the_second_pass_is_empty():
    loader = DrainsOnce(5)
    list(loader)
    assert _time_loader(loader, 3) is None


def test_profile_falls_back_to_the_loop_waits():
    r = profile(DrainsOnce(12), lambda b: None, steps=8, warmup_steps=1, device="cpu")
    assert r.steps == 8 and r.stages is not None
    assert r.stages.load_s == r.wait_s  # a serial loop: the loader's time is its waits
