"""Facts about this process that every result records: the code's git commit, the machine, the
library versions and the device. A leaf module (standard library only at import), so the
training code can record them; ``provenance`` builds the report's provenance on top of it.

API::

    code_version()   # {"commit": "28f114f…", "dirty": False} or {"commit": None, ...} outside git
    machine()        # {"hostname", "platform", "processor", "cpus", "python"}
    versions()       # {"python", "torch", "numpy", "rnnviz"}
    device()         # "CPU (2 cores)" or the CUDA device's name
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def code_version() -> dict:
    """The git commit of this package's checkout and whether tracked files differ from it, as
    they were when this process first asked (a checkout moved later does not change it)."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"hostname": socket.gethostname(), "platform": platform.platform(), "processor": cpu,
            "cpus": os.cpu_count(), "python": sys.version.split()[0]}


def versions() -> dict:
    """Python, torch, numpy and this package's version."""
    import numpy
    import torch

    from rnnviz_lib import __version__

    return {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": numpy.__version__,
            "rnnviz": __version__}


def device() -> str:
    """The accelerator torch sees, or the CPU with its core count."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
