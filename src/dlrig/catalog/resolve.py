"""Turn a validated `BuildFile` into a `Build`: look parts up and apply the file's overrides."""

from __future__ import annotations

import difflib

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
    _check_positions(build_file, shown)
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
        second_psu=build_file.second_psu,
        bios=build_file.bios,
        display=build_file.display,
        nvlink_bridges=build_file.nvlink_bridges,
        nics=build_file.nics,
        integrated_graphics=build_file.cpu.integrated_graphics if build_file.cpu else None,
    )


def _check_positions(build_file: BuildFile, shown: str) -> None:
    """Slot positions name physical slots: one per card, none used twice, on the board's map."""
    used: dict[int, str] = {}
    for i, g in enumerate(build_file.gpus):
        if g.slots is None:
            continue
        key = f"gpus[{i}].slots"
        if len(g.slots) != g.count:
            problem = f"expected one slot position per card ({g.count}), got {len(g.slots)}"
            raise BuildFileError(shown, key, problem)
        for pos in g.slots:
            if pos in used:
                raise BuildFileError(shown, key, f"slot {pos} is already used by {used[pos]}")
            used[pos] = key
    board = build_file.motherboard
    if board is not None and board.slots is not None:
        seen: set[int] = set()
        for j, slot in enumerate(board.slots):
            if slot.position in seen:
                problem = f"slot position {slot.position} is listed twice"
                raise BuildFileError(shown, f"motherboard.slots[{j}].position", problem)
            seen.add(slot.position)
        for pos, key in used.items():
            if pos not in seen:
                listed = ", ".join(str(p) for p in sorted(seen))
                problem = f"slot {pos} is not in motherboard.slots (positions {listed})"
                raise BuildFileError(shown, key, problem)
    if board is not None and board.m2 is not None:
        names = [m.name for m in board.m2]
        for j, s in enumerate(build_file.storage):
            if s.m2_slot is not None and s.m2_slot not in names:
                problem = f"unknown M.2 socket '{s.m2_slot}'; expected a name from motherboard.m2"
                raise BuildFileError(
                    shown,
                    f"storage[{j}].m2_slot",
                    problem,
                    difflib.get_close_matches(s.m2_slot, names, n=3, cutoff=0.5),
                )
    for j, bridge in enumerate(build_file.nvlink_bridges):
        a, b = bridge.slots
        if a == b:
            raise BuildFileError(
                shown, f"nvlink_bridges[{j}].slots", "expected two different slot positions"
            )
    for i, g in enumerate(build_file.gpus):
        if g.psu == "second" and build_file.second_psu is None:
            problem = 'expected "main" (the file has no [second_psu] section), got "second"'
            raise BuildFileError(shown, f"gpus[{i}].psu", problem)


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
        slots=list(given.slots) if given.slots is not None else None,
        riser=given.riser,
        displays=given.displays,
        psu=given.psu,
        adapter_8pin=given.adapter_8pin,
        host_link_gbs=given.host_link_gbs,
    )


def _storage(given: StorageInput) -> Storage:
    if given.read_mbs is not None:
        return Storage(
            kind=given.kind,
            read_mbs=given.read_mbs,
            read_mbs_is_default=False,
            holds_data=given.holds_data,
            model=given.model,
            m2_slot=given.m2_slot,
            sata_port=given.sata_port,
        )
    typical = load.storage_kinds()[given.kind]
    return Storage(
        kind=given.kind,
        read_mbs=typical.typical_read_mbs,
        read_mbs_is_default=True,
        holds_data=given.holds_data,
        model=given.model,
        m2_slot=given.m2_slot,
        sata_port=given.sata_port,
    )
