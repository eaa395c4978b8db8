"""User-facing errors.

Every problem a user can fix (a missing file, a corrupted image, mismatched
statistics) is raised as :class:`GanevalError` with a one-line message that
names the file and says what to do. The CLI prints that line and exits with a
non-zero status; library callers can catch the class.
"""


class GanevalError(Exception):
    """A one-line, user-fixable error. ``str(err)`` is the whole message."""


class BadImageError(GanevalError):
    """An image file that cannot be decoded. ``path`` names it."""

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(
            f"{self.path}: cannot decode image ({reason}); remove or replace the file, "
            "or pass --skip-bad to skip undecodable images"
        )

    def __reduce__(self):
        # Rebuilt from (path, reason) when it crosses from a DataLoader worker process: the
        # default pickling passes only the message and failed with a TypeError instead.
        return type(self), (self.path, self.reason)


def one_line(err: BaseException) -> str:
    """``err``'s text on one line, for the reason in a GanevalError message: every run of
    whitespace (newlines included) becomes one space; the type name when it has no text."""
    return " ".join(str(err).split()) or type(err).__name__
