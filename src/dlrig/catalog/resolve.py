"""Turn a validated `BuildFile` into a `Build`: look parts up and apply the file's overrides."""

from __future__ import annotations

from dlrig.catalog import load
from dlrig.catalog.lookup import find_cpu, find_gpu, find_model
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
from dlrig.model.parts import CpuSpec
from dlrig.model.workload import ModelSpec

_CPU_OVERRIDES = ("cores", "threads", "pcie_lanes", "pcie_gen", "tdp_w", "memory_channels")
_CPU_REQUIRED_WITHOUT_MODEL = ("cores", "pcie_lanes", "pcie_gen", "tdp_w")
# Every resolved-CPU field the catalog row also has (name, cores, lanes, memory, price…).
_CPU_FROM_CATALOG = set(Cpu.model_fields) & set(CpuSpec.model_fields)


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
        model_spec=_model(build_file, shown),
    )


def _model(build_file: BuildFile, shown: str) -> ModelSpec | None:
    """workload.model looked up; model and task come together (the estimate needs both)."""
    w = build_file.workload
    if w is None or (w.model is None and w.task is None):
        return None
    if w.model is None:
        problem = "required with workload.task: a model preset (see 'dlrig parts models')"
        raise BuildFileError(shown, "workload.model", problem)
    if w.task is None:
        problem = "required with workload.model: one of 'train', 'lora', 'qlora', 'infer'"
        raise BuildFileError(shown, "workload.task", problem)
    try:
        return find_model(w.model)
    except CatalogLookupError as exc:
        raise _lookup_error(shown, "workload.model", exc) from None


def _lookup_error(shown: str, key: str, exc: CatalogLookupError) -> BuildFileError:
    return BuildFileError(shown, key, exc.problem(), exc.suggestions)


def _cpu(given: CpuInput, shown: str) -> Cpu:
    """The catalog CPU with the file's values on top, or a CPU given only by its numbers."""
    overrides = {f: getattr(given, f) for f in _CPU_OVERRIDES if getattr(given, f) is not None}
    if given.model is None:
        missing = [f for f in _CPU_REQUIRED_WITHOUT_MODEL if f not in overrides]
        if missing:
            needed = ", ".join(_CPU_REQUIRED_WITHOUT_MODEL)
            problem = (
                "required when cpu.model is left out; give cpu.model (a catalog CPU, see "
                f"'dlrig parts cpus') or all of {needed}"
            )
            raise BuildFileError(shown, f"cpu.{missing[0]}", problem)
        spec = None
        base = {"name": "custom CPU", "threads": overrides["cores"], "power_w": overrides["tdp_w"]}
    else:
        try:
            spec = find_cpu(given.model)
        except CatalogLookupError as exc:
            raise _lookup_error(shown, "cpu.model", exc) from None
        base = spec.model_dump(include=_CPU_FROM_CATALOG)
        base["power_w"] = overrides.get("tdp_w") or spec.max_power_w or spec.tdp_w
    return Cpu(count=given.count, spec=spec, overridden=list(overrides), **(base | overrides))


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
