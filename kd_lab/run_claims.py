"""Which process trains which run, when several share one results folder.

Before training a run a process claims it: `results/.claims/<run_id>`, created whole or not at
all, names the host and the process. Another process passes a claimed run by, and the claim is
released once the run's record is written (or its training fails). A claim whose process has
died on this host is taken over by the next process that looks; a claim made on another host
cannot be checked from here and stays until that host releases it (or someone deletes it).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from .records import RESULTS_DIR


def _path(run_id: str, results_dir) -> Path:
    return Path(results_dir) / ".claims" / run_id


def _this_process() -> str:
    return f"{socket.gethostname()} {os.getpid()}"


def _alive(holder: str) -> bool:
    host, _, pid = holder.partition(" ")
    if not pid.isdigit():  # a claim file cut short names no process
        return False
    if host != socket.gethostname():
        return True  # another machine's process: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def _holder(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def claim(run_id: str, results_dir=RESULTS_DIR) -> bool:
    """Claim `run_id` for this process; True when it is this process's now (newly, already, or
    taken over from a process that died on this host), False while another process holds it."""
    path = _path(run_id, results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{run_id}.{os.getpid()}")
    draft.write_text(_this_process())
    try:
        for _ in range(3):
            try:
                os.link(draft, path)  # atomic, and refused when a claim exists: never half-written
                return True
            except FileExistsError:
                holder = _holder(path)
                if holder == _this_process():
                    return True
                if holder is not None and _alive(holder):
                    return False
                path.unlink(missing_ok=True)  # its process is gone
        return False
    finally:
        draft.unlink(missing_ok=True)


def release(run_id: str, results_dir=RESULTS_DIR) -> None:
    """Remove this process's claim on `run_id` (another process's stays)."""
    path = _path(run_id, results_dir)
    if _holder(path) == _this_process():
        path.unlink(missing_ok=True)


def held_elsewhere(run_id: str, results_dir=RESULTS_DIR) -> bool:
    """Whether another living process holds a claim on `run_id`."""
    holder = _holder(_path(run_id, results_dir))
    return holder is not None and holder != _this_process() and _alive(holder)
