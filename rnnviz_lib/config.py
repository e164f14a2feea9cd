"""Configuration identity: stable hashes and readable slugs for configs, and profile files.

Every artifact is named by the configuration that produced it (``slug-hash``), never by its
results, so re-running a pipeline finds and reuses what already exists.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from rnnviz_lib.errors import RnnvizError

PROFILES = ("smoke", "quick", "paper")


def _plain(obj: Any) -> Any:
    """Turn dataclasses/tuples/paths into JSON-able plain data with sorted keys."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def canonical_json(obj: Any) -> str:
    """The JSON text a config hashes to: sorted keys, no whitespace."""
    return json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"))


def config_hash(obj: Any, n: int = 10) -> str:
    """Short sha256 of a config's canonical JSON."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:n]


def slugify(text: str) -> str:
    """Lower-case filename-safe slug."""
    return re.sub(r"[^a-z0-9._-]+", "-", str(text).lower()).strip("-") or "x"


def artifact_name(slug: str, obj: Any) -> str:
    """``<readable slug>-<hash>``: the directory or file stem of an artifact."""
    return f"{slugify(slug)}-{config_hash(obj)}"


def project_root() -> Path:
    """Where notebooks/ and the default artifact tree live: $RNNVIZ_HOME or the current directory."""
    return Path(os.environ.get("RNNVIZ_HOME", os.getcwd())).resolve()


def profile_path(profile: str, root: Path | None = None) -> Path:
    root = root or project_root()
    p = Path(profile)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    return root / "notebooks" / "params" / f"{profile}.yaml"


def load_profile(profile: str, root: Path | None = None) -> dict:
    """Read ``notebooks/params/<profile>.yaml`` (or a YAML path).

    The file has ``common:`` (values handed to every notebook that declares them) and
    ``notebooks:`` (one mapping per notebook stem; every key must be declared by it).
    """
    path = profile_path(profile, root)
    if not path.is_file():
        known = sorted(q.stem for q in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        raise RnnvizError(
            f"unknown profile {profile!r}: {path} does not exist "
            f"(known profiles: {', '.join(known) or 'none'})"
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RnnvizError(f"profile file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RnnvizError(f"profile file {path} must hold a mapping with 'common' and 'notebooks'")
    data.setdefault("common", {})
    data.setdefault("notebooks", {})
    data["name"] = path.stem
    return data
