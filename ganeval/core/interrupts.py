"""Ctrl-C and SIGTERM on the command line: stop at once, one line, nothing left behind.

:func:`install` (called by the console scripts) handles SIGINT and SIGTERM by ending the process
right away: it kills the decoding workers, removes the files registered with
:func:`remove_on_forced_exit` (atomic-write temporaries, lock files, report staging folders),
prints ``PROG: interrupted`` (or ``PROG: terminated (SIGTERM)``) and exits with 130 (143).
Whatever the run wrote completely stays, a resumable checkpoint included; nothing half-written does.

Why not let KeyboardInterrupt unwind the stack? It is raised wherever the main thread happens to
be: inside a weakref callback or a ``__del__`` it is printed as "Exception ignored" and lost, and
the run went on (a Ctrl-C that was not honoured for 35 s); and a Python handler runs only between
bytecodes, so a main thread inside a long native call (an Inception batch, a DataLoader shutting
down its workers) delays it by seconds. So the signal also wakes a watchdog thread at once,
through :func:`signal.set_wakeup_fd`, and whichever of the two comes first ends the process;
:func:`claim_exit` lets exactly one of them (or a command ending on its own) print its line, so
no traceback can follow it.

Decoding workers ignore both signals (:func:`ignore_in_worker`): the terminal sends Ctrl-C to
the whole process group, and a worker that raised KeyboardInterrupt printed its own traceback
after the main process's line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import threading

_EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
_received: list[int] = []  # the first signal received, if any
_claimed = threading.Lock()
_registered: dict[str, bool] = {}  # path -> is a folder; removed on a forced exit
_registry_lock = threading.RLock()  # re-entrant: the handler may run while the main thread holds it
_installed = False


def received_signal() -> int | None:
    """The first SIGINT/SIGTERM this process received, or None."""
    return _received[0] if _received else None


def exit_code() -> int:
    """130 after SIGINT (or a plain KeyboardInterrupt), 143 after SIGTERM."""
    return _EXIT_CODES.get(received_signal(), 130)


def message(prog: str) -> str:
    return f"{prog}: terminated (SIGTERM)" if received_signal() == signal.SIGTERM else f"{prog}: interrupted"


def claim_exit() -> bool:
    """True for the first caller only: that one prints the interruption line and exits."""
    return _claimed.acquire(blocking=False)


def finish_interrupted(prog: str) -> None:
    """The main thread's end after KeyboardInterrupt: the one line and exit 130/143, unless the watchdog
    already claimed the exit (then it prints and ends the process: wait for it)."""
    if not claim_exit():
        threading.Event().wait()
    try:
        sys.stderr.write(message(prog) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    sys.exit(exit_code())


def settle(prog: str) -> None:
    """Called by every other way out of a command: after a signal, end as interrupted (the error was its
    consequence); else claim the exit, so that a signal from now on changes nothing."""
    if received_signal() is not None:
        finish_interrupted(prog)
    if not claim_exit():
        threading.Event().wait()  # the watchdog holds the exit and ends the process


def remove_on_forced_exit(path, *, folder: bool = False) -> None:
    """Register ``path`` (a temporary file, lock file or staging folder) for removal if the watchdog ends the
    process; :func:`forget` it once it is renamed into place or removed."""
    with _registry_lock:
        _registered[os.fspath(path)] = folder


def forget(path) -> None:
    with _registry_lock:
        _registered.pop(os.fspath(path), None)


def _remove_registered() -> None:
    with _registry_lock:
        items = list(_registered.items())
    for path, folder in items:
        with contextlib.suppress(OSError):
            if folder:
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)


def _kill_children() -> None:
    """SIGKILL this process's children (decoding workers ignore SIGINT/SIGTERM and would otherwise
    notice their parent's end only at their next status check, seconds later)."""
    pids = set()
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{os.getpid()}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{os.getpid()}/task/{task}/children") as listing:
                pids.update(int(pid) for pid in listing.read().split())
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _force_exit(signum: int, prog: str) -> None:
    """End the process now (module docstring), unless another way out already claimed the exit."""
    if not _received:
        _received.append(signum)
    if not claim_exit():
        return
    _kill_children()
    _remove_registered()
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(message(prog) + "\n")
        sys.stderr.flush()
    os._exit(exit_code())


def _watchdog(reader: socket.socket) -> None:
    while True:
        try:
            data = reader.recv(64)
        except OSError:
            return
        if not data:
            return
        signums = [b for b in data if b in _EXIT_CODES]
        if signums and _active:
            _force_exit(signums[0], _active[0])


_active: list[str] = []  # the program name while a command runs with the handlers installed


def install(prog: str) -> None:
    """Handle SIGINT and SIGTERM as the module docstring says, until :func:`uninstall` (main thread only).
    Starts a command afresh: a process may run several, as the tests do."""
    global _installed
    _received.clear()
    if _claimed.locked():
        _claimed.release()
    if threading.current_thread() is not threading.main_thread():
        return
    if not _installed:
        reader, writer = socket.socketpair()
        writer.setblocking(False)
        _keep.extend((reader, writer))
        threading.Thread(target=_watchdog, args=(reader,), name="ganeval-signal-watchdog", daemon=True).start()
        _installed = True
    _previous.clear()
    try:
        _previous.append(signal.set_wakeup_fd(_keep[1].fileno(), warn_on_full_buffer=False))
    except ValueError:
        return
    for signum in _EXIT_CODES:
        _previous.append((signum, signal.signal(signum, lambda signum, frame: _force_exit(signum, prog))))
    _active[:] = [prog]


def uninstall() -> None:
    """Put back the handlers :func:`install` replaced (a caller such as pytest gets its Ctrl-C back)."""
    if not _previous or threading.current_thread() is not threading.main_thread():
        return
    _active.clear()
    wakeup, *handlers = _previous
    for signum, handler in handlers:
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    signal.set_wakeup_fd(wakeup)
    _previous.clear()


_previous: list = []


def terminate_silently() -> None:
    """SIGTERM takes its default action again (under torchrun, a rank waiting to be stopped after
    rank 0 printed the refusal must end without a line of its own)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
_keep: list = []  # the socket pair lives as long as the process


def ignore_in_worker(worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: a decoding worker leaves SIGINT/SIGTERM to the main process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

