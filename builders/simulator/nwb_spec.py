"""The NWB specifications a simulated session file caches, so pynwb and nwbinspector open it.

An NWB file is self-describing: ``/specifications/<namespace>/<version>/`` holds the schema of every
neurodata type it uses, as JSON strings, and the root attribute ``.specloc`` points there. Allen's files cache
core 2.2.2, hdmf-common 1.1.3 and ``ndx-aibs-ecephys`` 0.2.0 (allen_nwb_layout.md section 0). The simulator
caches the core and hdmf-common specifications of the installed pynwb (so the root ``nwb_version`` is that core
version, not Allen's 2.2.2) and an ``ndx-aibs-ecephys`` namespace of its own.

Our ``ndx-aibs-ecephys``: the three extension types the simulator writes, with the attributes that
allen_nwb_layout.md section 1 lists for them (``EcephysSpecimen`` extends ``Subject`` with ``specimen_name`` and
``age_in_days``; ``EcephysProbe`` extends ``Device`` with ``probe_id``, ``sampling_rate``;
``EcephysElectrodeGroup`` extends ``ElectrodeGroup`` with ``probe_id``, ``lfp_sampling_rate``,
``has_lfp_data``). It is written from that description, not copied from Allen's published YAML, and it leaves
out the types the simulator never writes (eye tracking, current source density, LFP). The file keeps Allen's
``strain`` attribute on the subject, but the spec cannot declare it: since NWB 2.3 core ``Subject`` has a
``strain`` dataset of that name, so pynwb reports ``subject.strain`` as None (read the attribute with h5py).
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import h5py

AIBS_NAMESPACE = "ndx-aibs-ecephys"
AIBS_VERSION = "0.2.0"
_STR = h5py.string_dtype("utf-8")

# type -> (core type it extends, doc, [(attribute, dtype, doc)])
AIBS_TYPES: dict[str, tuple[str, str, list[tuple[str, str, str]]]] = {
    "EcephysSpecimen": (
        "Subject",
        "Metadata of the specimen (mouse) an Allen ecephys session was recorded from.",
        [
            ("specimen_name", "text", "Full specimen name, e.g. 'Pvalb-IRES-Cre;Ai32-699404314'."),
            ("age_in_days", "float", "Age of the specimen in days."),
        ],
    ),
    "EcephysProbe": (
        "Device",
        "A Neuropixels probe.",
        [
            ("probe_id", "int", "Allen probe id."),
            ("sampling_rate", "float", "Sampling rate of the AP band (Hz)."),
        ],
    ),
    "EcephysElectrodeGroup": (
        "ElectrodeGroup",
        "The electrodes of one Neuropixels probe.",
        [
            ("probe_id", "int", "Allen probe id."),
            ("lfp_sampling_rate", "float", "Sampling rate of the (subsampled) LFP band (Hz)."),
            ("has_lfp_data", "bool", "Whether an LFP file exists for this probe."),
        ],
    ),
}


def _export_namespace(folder: Path) -> Path:
    from pynwb.spec import NWBAttributeSpec, NWBGroupSpec, NWBNamespaceBuilder

    builder = NWBNamespaceBuilder(
        doc="Allen Institute ecephys extension types, as written by the neurrator-bench simulator",
        name=AIBS_NAMESPACE,
        version=AIBS_VERSION,
        author=["neurrator-bench"],
        contact=["https://github.com/neurrator-bench"],
    )
    for parent, _, _ in AIBS_TYPES.values():
        builder.include_type(parent, namespace="core")
    for name, (parent, doc, attributes) in AIBS_TYPES.items():
        spec = NWBGroupSpec(
            neurodata_type_def=name,
            neurodata_type_inc=parent,
            doc=doc,
            attributes=[NWBAttributeSpec(attr, attr_doc, dtype) for attr, dtype, attr_doc in attributes],
        )
        builder.add_spec(f"{AIBS_NAMESPACE}.extensions.yaml", spec)
    builder.export(f"{AIBS_NAMESPACE}.namespace.yaml", outdir=str(folder))
    return folder / f"{AIBS_NAMESPACE}.namespace.yaml"


@cache
def cached_specifications() -> tuple[str, tuple[tuple[str, str], ...]]:
    """``(core version, ((path under /specifications, JSON text), ...))`` as pynwb caches them.

    pynwb writes one empty NWB file with our extension loaded into a temporary folder; its ``/specifications``
    group is read back. Computed once per process.
    """
    from hdmf.build import BuildManager
    from pynwb import NWBHDF5IO, NWBFile, get_type_map

    with tempfile.TemporaryDirectory(prefix="nwb-spec-") as tmp:
        folder = Path(tmp)
        type_map = get_type_map()
        type_map.load_namespaces(str(_export_namespace(folder)))
        empty = NWBFile(
            session_description="specification carrier",
            identifier="specification-carrier",
            session_start_time=datetime(2000, 1, 1, tzinfo=timezone.utc),
        )
        with NWBHDF5IO(str(folder / "carrier.nwb"), "w", manager=BuildManager(type_map)) as io:
            io.write(empty)
        entries: list[tuple[str, str]] = []
        with h5py.File(folder / "carrier.nwb", "r") as f:
            version = str(f.attrs["nwb_version"])
            f["specifications"].visititems(
                lambda name, obj: entries.append((name, obj.asstr()[()])) if isinstance(obj, h5py.Dataset) else None
            )
    return version, tuple(sorted(entries))


def write_specifications(f: h5py.File) -> str:
    """Write ``/specifications`` (core, hdmf-common, ndx-aibs-ecephys) and ``.specloc`` into an open file.

    Returns:
        The cached core version (the file's ``nwb_version``).
    """
    version, entries = cached_specifications()
    group = f.create_group("specifications")
    for name, text in entries:
        group.create_dataset(name, data=text, dtype=_STR, track_times=False)
    f.attrs[".specloc"] = group.ref
    return version
