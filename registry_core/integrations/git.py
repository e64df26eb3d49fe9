"""The one way modelreg runs git: in a folder, with a timeout, failures as CatalogError.

``git`` is for commands whose failure is an error; ``run`` hands back the finished process for the
few whose failure is an answer (a rejected push, a rebase that stopped, a busy index lock).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from registry_core.errors import CatalogError

if TYPE_CHECKING:
    from registry_core.catalog import Catalog

TIMEOUT_S = 300


def run(cwd: Path, *args: str, env: dict | None = None, input_: str | bytes | None = None,
        binary: bool = False, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run ``git ARGS`` in ``cwd`` whatever its exit code; text output unless ``binary`` (or bytes input)."""
    text = not binary and not isinstance(input_, bytes)
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=text, input=input_,
                              env={**os.environ, **(env or {})}, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise CatalogError(f"git {args[0]}: {exc}") from None


def _failed(cwd: Path, args: tuple[str, ...], done: subprocess.CompletedProcess) -> CatalogError:
    err, out = done.stderr, done.stdout
    if isinstance(err, bytes):
        err, out = err.decode(errors="replace"), out.decode(errors="replace")
    message = (err.strip() or out.strip() or f"exit {done.returncode}").splitlines()
    return CatalogError(f"git {args[0]} failed in {cwd}: {message[-1] if message else ''}")


def git(cwd: Path, *args: str, env: dict | None = None, input_: str | None = None, check: bool = True) -> str:
    """Run git in ``cwd`` and return its output; a failure becomes a CatalogError quoting git's own last line."""
    done = run(cwd, *args, env=env, input_=input_)
    if check and done.returncode != 0:
        raise _failed(cwd, args, done)
    return done.stdout


def git_bytes(cwd: Path, *args: str, input_: bytes | None = None) -> bytes:
    """``git`` for binary output (blobs)."""
    done = run(cwd, *args, input_=input_, binary=True)
    if done.returncode != 0:
        raise _failed(cwd, args, done)
    return done.stdout


def hash_blob(root: Path, data: bytes) -> str:
    """Store ``data`` as a blob in the repository; its id."""
    return git_bytes(root, "hash-object", "-w", "--stdin", input_=data).decode().strip()


def repo_root(catalog: Catalog) -> Path:
    """The top folder of the git repository the catalog is in."""
    done = run(catalog.root, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise CatalogError(f"{catalog.root} is not inside a git repository (git init, or clone one)")
    return Path(done.stdout.strip())


def catalog_prefix(catalog: Catalog, root: Path) -> str:
    """The catalog folder relative to the repository ``root``, as a git path prefix ("" or "sub/dir/")."""
    rel = catalog.root.resolve().relative_to(root.resolve()).as_posix()
    return "" if rel == "." else rel + "/"
