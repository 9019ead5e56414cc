"""Session NWB files read in place over HTTP range requests (remfile under h5py), never downloaded whole.

h5py reads a file-like object through its ``fileobj`` driver; ``remfile.File`` turns each read into an HTTP
``Range`` request for the chunks that read touches (at least 100 KiB, growing while reads are sequential) and
keeps them in memory (a request is at most `MAX_REQUEST_BYTES`). The reader (`nwb_reader.read_session`)
touches only the metadata, the units table's scalar columns, ``spike_times`` (all of it: every spike is
binned or used for optotagging), the electrodes table, the presentation / optotagging / invalid-times tables
and running speed; ``spike_amplitudes`` and ``waveform_mean`` (as large as ``spike_times`` and larger) are
never fetched, beyond the few MB a request may run past ``spike_times``.

`open_nwb` opens either kind of location, so the reader and the origin check serve local and remote files
through one code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import h5py

from neurrator_bench.errors import NWBFormatError

# remfile grows its requests while reads are sequential; the cap bounds how far one may run past the dataset
# being read (our choice: 8 MiB, about 0.1 s of a 100 MB/s link, so a 1 GB spike_times is ~125 requests)
MAX_REQUEST_BYTES = 8 << 20
# seconds a range request may wait to connect or for the next bytes (remfile itself sets none, so a stalled
# server would hang the build forever). remfile 0.1.15 tries each request 9 times with 0.1 * 2**k s of backoff,
# so a server that stays stalled fails a read after about 9 x 30 + 25 s = 5 minutes (our choice: long enough
# for a slow archive, short enough to notice)
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RemoteNWB:
    """A session NWB file on a web server that honours ``Range`` requests.

    Attributes:
        url: Where the bytes are (for DANDI: the asset's S3 content URL).
        asset_path: Its path in the archive, e.g. ``sub-699733573/sub-699733573_ses-715093703.nwb``.
        size: Its size in bytes (from the archive's metadata; saves a request).
        sha256: Its published sha256 (the build's source checksum; no trust-on-first-use needed).
    """

    url: str
    asset_path: str
    size: int
    sha256: str

    @property
    def name(self) -> str:
        """The file name (as ``Path.name``), e.g. ``sub-699733573_ses-715093703.nwb``."""
        return PurePosixPath(self.asset_path).name

    def __str__(self) -> str:
        return self.url


NWBLocation = Path | RemoteNWB


def as_location(location: NWBLocation | str) -> NWBLocation:
    """A `RemoteNWB` unchanged; anything else as a local ``Path``."""
    return location if isinstance(location, RemoteNWB) else Path(location)


def _timeout_session(timeout_s: float):
    """A ``requests.Session`` whose requests time out after ``timeout_s`` unless told otherwise."""
    import requests

    class TimeoutSession(requests.Session):
        def request(self, *args, **kwargs):
            kwargs.setdefault("timeout", timeout_s)
            return super().request(*args, **kwargs)

    return TimeoutSession()


def open_nwb(location: NWBLocation) -> h5py.File:
    """Open a local path or a `RemoteNWB` read-only.

    Raises:
        FileNotFoundError: A local path that does not exist.
        NWBFormatError: Not readable HDF5 (a truncated download, an HTML error page, an unreachable URL).
    """
    if isinstance(location, RemoteNWB):
        import remfile

        try:
            handle = remfile.File(location.url, _size=location.size, _max_chunk_size=MAX_REQUEST_BYTES)
            if handle.session is not None:
                handle.session.close()
            handle.session = _timeout_session(REQUEST_TIMEOUT_S)
            return h5py.File(handle, "r")
        except Exception as err:  # remfile raises requests / OSError / ValueError on bad replies
            raise NWBFormatError(
                f"{location.url} ({location.asset_path}): could not be read as HDF5/NWB over HTTP range requests: {err}"
            ) from err
    path = as_location(location)
    if not path.is_file():
        raise FileNotFoundError(f"NWB file not found: {path}")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise NWBFormatError(
            f"{path}: not a readable HDF5/NWB file (possibly a truncated or interrupted download): {err}"
        ) from err
