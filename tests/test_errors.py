"""The one "did you mean" ranking every message uses (dlrig.errors.close_matches)."""

from dlrig.errors import close_matches, did_you_mean


def test_same_letters_win_over_edits():
    # "RTX-4090" and "rtx 4090" are the same letters; a fuzzy match would also offer 3090.
    assert close_matches("rtx-4090", ["RTX 3090", "RTX 4090"]) == ["RTX 4090"]


def test_containment_before_fuzzy():
    assert close_matches("ndr", ["ib-ndr", "ib-ndr200", "roce-400"]) == ["ib-ndr", "ib-ndr200"]


def test_typo_finds_the_fuzzy_neighbour_only():
    assert close_matches("ib-ndrr", ["ib-ndr", "eth-100g", "roce-400"]) == ["ib-ndr"]


def test_nothing_close_is_no_suggestion():
    assert close_matches("zzz", ["ib-ndr", "roce-400"]) == []
    assert did_you_mean("zzz", ["ib-ndr"]) == ""


def test_suffix_quotes_each_option():
    assert did_you_mean("ib-nd", ["ib-ndr", "ib-ndr200"]) == "; did you mean 'ib-ndr', 'ib-ndr200'?"
