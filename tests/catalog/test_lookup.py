"""Forgiving part lookup: the spellings users type all find one row; misses suggest three."""

from __future__ import annotations

import pytest

from dlrig.catalog import load
from dlrig.catalog.lookup import cpu_index, find_cpu, find_gpu, gpu_index, normalize
from dlrig.errors import CatalogLookupError


@pytest.mark.parametrize(
    "name",
    ["4090", "RTX 4090", "GeForce RTX 4090", "rtx4090", "NVIDIA GeForce RTX 4090", "rtx-4090"],
)
def test_rtx_4090_spellings(name):
    assert find_gpu(name).name == "GeForce RTX 4090"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("3090", "GeForce RTX 3090"),
        ("3090 Ti", "GeForce RTX 3090 Ti"),
        ("Titan X", "GeForce GTX Titan X"),
        ("GTX Titan X", "GeForce GTX Titan X"),
        ("H100 SXM", "H100 SXM"),
        ("A100 80GB SXM", "A100 80GB SXM"),
        ("RTX 3060 12GB", "GeForce RTX 3060 12GB"),
        ("4060 Ti 16GB", "GeForce RTX 4060 Ti 16GB"),
        ("MI300X", "Instinct MI300X"),
        ("RTX 6000 Ada", "RTX 6000 Ada Generation"),
    ],
)
def test_common_gpu_names(name, expected):
    assert find_gpu(name).name == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("i7-5930K", "Core i7-5930K"),
        ("Core i7-5930K", "Core i7-5930K"),
        ("7950X", "Ryzen 9 7950X"),
        ("ryzen 9 9950x", "Ryzen 9 9950X"),
        ("14900K", "Core i9-14900K"),
        ("Core Ultra 9 285K", "Core Ultra 9 285K"),
        ("EPYC 9554", "EPYC 9554"),
        ("Threadripper PRO 7985WX", "Ryzen Threadripper PRO 7985WX"),
    ],
)
def test_common_cpu_names(name, expected):
    assert find_cpu(name).name == expected


def test_unknown_gpu_lists_three_closest_names():
    with pytest.raises(CatalogLookupError) as err:
        find_gpu("RTX 4009")
    assert len(err.value.suggestions) == 3
    assert err.value.suggestions[0] == "GeForce RTX 4090"
    assert "did you mean 'GeForce RTX 4090'" in err.value.one_line()


def test_unknown_cpu_suggests():
    with pytest.raises(CatalogLookupError) as err:
        find_cpu("Ryzen 9 7905X")
    assert "Ryzen 9 7950X" in err.value.suggestions


def test_no_substring_guessing():
    # "RTX 40" is a prefix of many cards: it must not silently pick one.
    with pytest.raises(CatalogLookupError):
        find_gpu("RTX 40")


@pytest.mark.parametrize("index", [gpu_index, cpu_index], ids=["gpus", "cpus"])
def test_names_and_aliases_are_unambiguous_and_reach_their_row(index):
    idx = index()
    assert idx.conflicts == []
    for row in idx.rows:
        assert idx.find(row.name) is row
        for alias in row.aliases:
            try:
                assert idx.find(alias) is row, alias
            except CatalogLookupError as err:  # a family alias ("H100"): it lists its row
                assert row.name in err.choices, alias


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("4060 Ti", "GeForce RTX 4060 Ti 16GB"),
        ("RTX 4060 Ti", "GeForce RTX 4060 Ti 16GB"),
        ("4060Ti", "GeForce RTX 4060 Ti 16GB"),
        ("NVIDIA GeForce RTX 4060 Ti", "GeForce RTX 4060 Ti 16GB"),
        ("RTX 3090", "GeForce RTX 3090"),  # a full name minus brand words is no family
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),  # NVML's name for the SXM5 part
        ("Tesla V100-SXM2-32GB", "Tesla V100 SXM2 32GB"),  # NVML's name for the 32 GB card
        ("V100 32GB", "Tesla V100 SXM2 32GB"),
    ],
)
def test_unambiguous_short_gpu_names_are_accepted(name, expected):
    """Issue 16: `--gpu "4060 Ti"` was refused while the catalog has the card."""
    assert find_gpu(name).name == expected


@pytest.mark.parametrize(
    ("name", "choices"),
    [
        ("H100", {"H100 PCIe", "H100 SXM"}),
        ("A100 80GB", {"A100 80GB PCIe", "A100 80GB SXM"}),
        ("RTX 6000", {"RTX 6000 Ada Generation", "RTX PRO 6000 Blackwell Workstation Edition"}),
        # the 16 and 32 GB V100 differ only in memory: which fits a job depends on it
        ("V100 SXM2", {"Tesla V100 SXM2 16GB", "Tesla V100 SXM2 32GB"}),
    ],
)
def test_ambiguous_gpu_names_list_the_choices(name, choices):
    """Issue 16: `--gpu H100` silently picked the SXM part."""
    with pytest.raises(CatalogLookupError) as err:
        find_gpu(name)
    # Every listed choice carries the name's words; the catalog may add more (an H100 NVL).
    assert choices <= set(err.value.choices)
    assert all(name.split()[-1] in c for c in err.value.choices)
    line = err.value.one_line()
    assert "ambiguous" in line and "\n" not in line
    assert all(f"'{c}'" in line for c in choices)


def test_normalize():
    assert normalize("GeForce RTX-4090 ") == "geforcertx4090"


def test_catalog_sizes_meet_the_issue():
    assert len(load.gpus()) >= 40
    assert len(load.cpus()) >= 20
    assert set(load.pcie_gens()) >= {1, 2, 3, 4, 5}


def test_osa_distance():
    from dlrig.catalog.lookup import osa_distance

    assert osa_distance("4009", "4090") == 1
    assert osa_distance("4009", "4070") == 2
    assert osa_distance("", "abc") == 3
    assert osa_distance("kitten", "sitting") == 3


@pytest.mark.parametrize(
    "args",
    [
        ["estimate", "--model", "llama-3-8b", "--task", "infer", "--gpu", "H100"],
        ["recommend", "--budget", "20000", "--workload", "resnet50:train", "--gpu", "H100"],
    ],
)
def test_cli_refuses_an_ambiguous_gpu_with_one_line(args, capsys):
    from dlrig.cli import run

    assert run(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'H100 PCIe'" in err and "'H100 SXM'" in err


def test_cli_accepts_a_short_gpu_name(capsys):
    from dlrig.cli import run

    args = ["estimate", "--model", "llama-3-8b", "--task", "infer", "--gpu", "4060 Ti"]
    assert run([*args, "--format", "json"]) == 0
    assert '"gpu": "GeForce RTX 4060 Ti 16GB"' in capsys.readouterr().out
