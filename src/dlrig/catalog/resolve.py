"""Turn a validated `BuildFile` into a `Build`: look parts up and apply the file's overrides."""

from __future__ import annotations

from dlrig.catalog import load
from dlrig.catalog.lookup import find_cpu, find_gpu
from dlrig.errors import BuildFileError, CatalogLookupError
from dlrig.model.build import (
    Build,
    BuildFile,
    Cpu,
    CpuInput,
    GpuGroup,
    GpuInput,
    Storage,
    StorageInput,
)

_CPU_OVERRIDES = ("cores", "threads", "pcie_lanes", "pcie_gen", "tdp_w", "memory_channels")
_CPU_REQUIRED_WITHOUT_MODEL = ("cores", "pcie_lanes", "tdp_w")


def resolve(build_file: BuildFile, shown: str = "<build>") -> Build:
    """Look every named part up in the catalog; unknown names are `BuildFileError`s."""
    return Build(
        name=build_file.name,
        cpu=_cpu(build_file.cpu, shown) if build_file.cpu else None,
        memory=build_file.memory,
        gpus=[_gpu(g, i, shown) for i, g in enumerate(build_file.gpus)],
        motherboard=build_file.motherboard,
        psu=build_file.psu,
        storage=[_storage(s) for s in build_file.storage],
        case=build_file.case,
        power=build_file.power,
        workload=build_file.workload,
    )


def _lookup_error(shown: str, key: str, exc: CatalogLookupError) -> BuildFileError:
    return BuildFileError(shown, key, f"unknown {exc.kind} '{exc.name}'", exc.suggestions)


def _cpu(given: CpuInput, shown: str) -> Cpu:
    overridden = [f for f in _CPU_OVERRIDES if getattr(given, f) is not None]
    if given.model is None:
        missing = [f for f in _CPU_REQUIRED_WITHOUT_MODEL if getattr(given, f) is None]
        if missing:
            raise BuildFileError(
                shown,
                f"cpu.{missing[0]}",
                "required when cpu.model is left out; give cpu.model (a catalog CPU, see "
                "'dlrig parts cpus') or all of " + ", ".join(_CPU_REQUIRED_WITHOUT_MODEL),
            )
        cores = given.cores or 1
        return Cpu(
            name="custom CPU",
            count=given.count,
            cores=cores,
            threads=given.threads or cores,
            pcie_lanes=given.pcie_lanes or 0,
            pcie_gen=given.pcie_gen or 3,
            tdp_w=given.tdp_w or 0.0,
            memory_channels=given.memory_channels,
            overridden=overridden,
        )
    try:
        spec = find_cpu(given.model)
    except CatalogLookupError as exc:
        raise _lookup_error(shown, "cpu.model", exc) from None
    return Cpu(
        name=spec.name,
        count=given.count,
        cores=given.cores or spec.cores,
        threads=given.threads or spec.threads,
        pcie_lanes=given.pcie_lanes or spec.pcie_lanes,
        pcie_gen=given.pcie_gen or spec.pcie_gen,
        tdp_w=given.tdp_w or spec.tdp_w,
        memory_channels=given.memory_channels or spec.memory_channels,
        max_memory_mts=spec.max_memory_mts,
        l3_cache_mb=spec.l3_cache_mb,
        boost_ghz=spec.boost_ghz,
        price_usd=spec.price_usd,
        spec=spec,
        overridden=overridden,
    )


def _gpu(given: GpuInput, index: int, shown: str) -> GpuGroup:
    try:
        spec = find_gpu(given.model)
    except CatalogLookupError as exc:
        raise _lookup_error(shown, f"gpus[{index}].model", exc) from None
    overrides = ("memory_gb", "power_w", "slot_width", "length_mm", "cooler", "pcie_lanes")
    return GpuGroup(
        spec=spec,
        count=given.count,
        memory_gb=given.memory_gb or spec.memory_gb,
        power_w=given.power_w or spec.tdp_w,
        slot_width=given.slot_width or spec.slot_width,
        length_mm=given.length_mm or spec.length_mm,
        cooler=given.cooler or spec.cooler,
        slot_lanes=given.pcie_lanes,
        overridden=[f for f in overrides if getattr(given, f) is not None],
    )


def _storage(given: StorageInput) -> Storage:
    if given.read_mbs is not None:
        return Storage(
            kind=given.kind,
            read_mbs=given.read_mbs,
            read_mbs_is_default=False,
            holds_data=given.holds_data,
            model=given.model,
        )
    typical = load.storage_kinds()[given.kind]
    return Storage(
        kind=given.kind,
        read_mbs=typical.typical_read_mbs,
        read_mbs_is_default=True,
        holds_data=given.holds_data,
        model=given.model,
    )
