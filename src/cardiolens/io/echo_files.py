"""Read one echo file, whatever it is: a DICOM ultrasound multi-frame file or a video.

DICOM is recognised by content (the "DICM" marker after the 128-byte
preamble) or by a ``.dcm`` suffix, so DICOM files exported without a suffix
(as PACS often do) are read as DICOM; anything else goes to FFmpeg
(AVI, MP4, ... including EchoNet-Dynamic videos).
"""

from __future__ import annotations

import os
from pathlib import Path

from cardiolens.data.echo import EchoClip
from cardiolens.errors import CorruptFileError
from cardiolens.io.files import require_file

_PREAMBLE_BYTES = 128
_DICOM_MAGIC = b"DICM"


def is_dicom_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` carries the DICOM file marker or ends in ``.dcm`` (any case)."""
    p = Path(path)
    if p.suffix.lower() == ".dcm":
        return True
    try:
        with p.open("rb") as handle:
            head = handle.read(_PREAMBLE_BYTES + len(_DICOM_MAGIC))
    except OSError as exc:
        raise CorruptFileError(p, f"cannot read the file ({exc.strerror or exc})") from exc
    return head[_PREAMBLE_BYTES:] == _DICOM_MAGIC


def read_echo_file(path: str | os.PathLike[str], view: str | None = None) -> EchoClip:
    """Decode an echo file into an :class:`EchoClip` (frames (t, y, x), ``fps`` in frames/s).

    Args:
        path: a DICOM ultrasound multi-frame file or a video file.
        view: the echo view to record ("A4C", ...). None: from the DICOM view
            tags (ViewCodeSequence / SeriesDescription) where there are any,
            else "unknown".

    Raises:
        MissingDataError / EmptyFileError: missing, folder or 0-byte path.
        CorruptFileError: a damaged DICOM file (from :func:`read_dicom_echo`).
        UnreadableVideoError: an undecodable or truncated video (from
            :func:`read_video`), or a clip with fewer than 2 frames.
        Each error names ``path``.
    """
    p = require_file(path)
    if is_dicom_file(p):
        from cardiolens.io.dicom_echo import read_dicom_echo

        return read_dicom_echo(p, view=view)
    from cardiolens.io.video import read_video

    return read_video(p, view=view or "unknown")


__all__ = ["is_dicom_file", "read_echo_file"]
