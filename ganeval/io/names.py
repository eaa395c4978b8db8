"""File names that are not valid UTF-8: shown and stored losslessly.

POSIX file names are bytes; Python hands undecodable bytes over as lone surrogates
(``\\udcff`` for the byte 0xff), which neither a UTF-8 terminal nor HDF5/JSON attributes
can hold. :func:`escape_name` writes such a byte as ``\\xff`` and doubles backslashes, and
leaves every other name untouched, so distinct names stay distinct (a name containing a
backslash or a bad byte is the only kind that changes, and it always contains ``\\``).
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\udc80-\udcff]")


def has_bad_bytes(name: str) -> bool:
    """True when ``name`` came from bytes that are not valid UTF-8."""
    return _SURROGATE.search(name) is not None


def escape_name(name) -> str:
    """``name`` as printable, storable text (module docstring); unchanged for ordinary names."""
    name = str(name)
    if "\\" not in name and not has_bad_bytes(name):
        return name
    return _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", name.replace("\\", "\\\\"))


def unescape_name(text: str) -> str:
    """Inverse of :func:`escape_name` (bad bytes come back as surrogates, as os.fsdecode gives them)."""
    if "\\" not in text:
        return text
    return re.sub(r"\\\\|\\x([0-9a-f]{2})",
                  lambda m: "\\" if m.group(1) is None else chr(0xDC00 + int(m.group(1), 16)), text)


def printable(message: str) -> str:
    """A message with any bad-byte surrogates written as ``\\xNN`` (safe for any terminal)."""
    return _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", str(message))
