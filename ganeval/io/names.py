"""File names that are not valid UTF-8: shown and stored losslessly.

POSIX file names are bytes; Python hands undecodable bytes over as lone surrogates
(``\\udcff`` for the byte 0xff), which neither a UTF-8 terminal nor HDF5/JSON attributes
can hold. :func:`escape_name` writes such a byte as ``\\xff`` and doubles backslashes, and
leaves every other name untouched, so distinct names stay distinct (a name containing a
backslash or a bad byte is the only kind that changes, and it always contains ``\\``).
Control characters (a newline, a tab, ... U+0000-U+001F and U+007F) are written the same way,
``\x0a``, so that a file name can never break a one-line message or a provenance line.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\udc80-\udcff]")
_ESCAPED = re.compile("[\udc80-\udcff\x00-\x1f\x7f]")  # bad bytes and control characters


def _hex(match) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00 if code >= 0xDC00 else code:02x}"


def has_bad_bytes(name: str) -> bool:
    """True when ``name`` came from bytes that are not valid UTF-8."""
    return _SURROGATE.search(name) is not None


def escape_name(name) -> str:
    """``name`` as printable, storable text (module docstring); unchanged for ordinary names."""
    name = str(name)
    if "\\" not in name and not _ESCAPED.search(name):
        return name
    return _ESCAPED.sub(_hex, name.replace("\\", "\\\\"))


def unescape_name(text: str) -> str:
    """Inverse of :func:`escape_name` (bad bytes come back as surrogates, as os.fsdecode gives them)."""
    if "\\" not in text:
        return text

    def byte(m):
        if m.group(1) is None:
            return "\\"
        code = int(m.group(1), 16)
        return chr(code) if code < 0x80 else chr(0xDC00 + code)  # a control character, or a bad byte

    return re.sub(r"\\\\|\\x([0-9a-f]{2})", byte, text)


def printable(message: str) -> str:
    """A message with any bad-byte surrogates and control characters (a newline in a file name) written
    as ``\\xNN``: one line, safe for any terminal."""
    return _ESCAPED.sub(_hex, str(message))
