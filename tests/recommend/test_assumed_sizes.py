"""Card sizes the catalog does not have are assumed, and recommend says so (issue 17)."""

from __future__ import annotations

from dlrig.report.recommend import build_toml


def test_assumed_card_sizes_are_marked_in_build_files_and_explain(rec):
    # The RTX 4060 Ti 16GB has no Founders Edition: its width and length are assumed.
    r = rec("llama-3-8b:qlora", 3000, gpus=("RTX 4060 Ti 16GB",))
    assert any("partner card assumed" in a for a in r.assumptions)
    proposals = [p for p in r.proposals if "slot_width" in p.build["gpus"][0]]
    assert proposals
    assert "# assumed: gpus slot_width and length_mm" in build_toml(r, proposals[0])
    reasons = " ".join(x.reason for x in r.rejected)
    assert "no reference card" in reasons
