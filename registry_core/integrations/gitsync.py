"""Sharing a catalog through git (SPEC 1.7): ``modelreg sync`` and commits that say what happened.

Every catalog file has a unique name, so ``git pull --rebase`` merges two clones' work cleanly,
with one exception: both clones registered the same version number of the same model.  ``sync``
finds those collisions before rebasing and renumbers the *local, unpushed* versions to the next
free numbers: their folders move, and the files that name them are rewritten (the manifest's
``version``, the ``version``/``rollback_of`` of local events, ``lineage.parents`` of local
manifests, ``MODEL@N`` in local commit messages).  Catalog files are otherwise written once; these
rewrites touch only files that were never shared, in commits that were never pushed, which is
what a rebase does to unpushed commits anyway.  Files that came from the remote are never changed.

With auto-commit on (``git: {auto_commit: true}`` in registry.yaml, or ``MODELREG_GIT_COMMIT=1``)
every write is committed at once with a message such as
``Promote fraud-detector@4 to production (alice@example.com): beats v3``.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from registry_core.errors import CatalogError, Conflict, PolicyRefused, RegistryError
from registry_core.format.layout import EVENT_SUFFIX, build_path, parse_path
from registry_core.format.names import MAX_VERSION, is_digits
from registry_core.format.settings import load_settings
from registry_core.format.yamlio import dumps, load_file, loads
from registry_core.integrations.git import catalog_prefix, git, git_bytes, hash_blob, repo_root, run
from registry_core.store.atomic import is_temporary

if TYPE_CHECKING:
    from registry_core.catalog import Catalog

ENV = "MODELREG_GIT_COMMIT"
T = TypeVar("T")
ZERO = "0" * 40


# -- describing changes -------------------------------------------------------------------------------
def _describe_event(model: str, data: dict) -> str:
    by, action = data.get("by", "?"), data.get("action")
    ref = f"{model}@{data.get('version')}"
    reason = f": {data['reason']}" if data.get("reason") else ""
    if action == "promote" and data.get("rollback_of"):
        text = f"Roll back {model} {data.get('stage')} from v{data['rollback_of']} to v{data.get('version')}"
    elif action == "promote":
        text = f"Promote {ref} to {data.get('stage')}" + (" (forced)" if data.get("forced") else "")
    elif action == "request":
        text = f"Request {ref} -> {data.get('stage')}"
    elif action in ("approve", "reject", "cancel"):
        verb = {"approve": "Approve", "reject": "Reject", "cancel": "Cancel"}[action]
        text = f"{verb} request {data.get('request')} for {ref} -> {data.get('stage')}"
    elif action == "alias":
        text = (f"Point alias {data.get('alias')} at {ref}" if data.get("version") is not None
                else f"Remove alias {data.get('alias')} of {model}")
    else:
        text = f"Record {action} for {ref}"
    return f"{text} ({by}){reason}"


def describe(catalog_root: Path, paths: list[str]) -> list[str]:
    """One sentence per change, from catalog-relative paths of added or changed files."""
    lines: list[str] = []
    paths = [p for p in paths if (catalog_root / p).is_file()]  # deletions say nothing about what happened
    registered = set()
    found = {rel: parse_path(rel) for rel in sorted(paths)}
    for rel, path in found.items():
        if path and path.kind == "manifest":
            registered.add((path.model, path.version))
            data = _load(catalog_root / rel)
            lines.append(f"Register {path.model}@{path.version} ({data.get('created_by', '?')})")
    logged = set()
    for rel, path in found.items():
        kind = path.kind if path else None
        if kind == "event":
            lines.append(_describe_event(path.model, _load(catalog_root / rel)))
        elif kind == "metrics" and (path.model, path.version) not in registered:
            key = (path.model, path.version)
            if key not in logged:
                logged.add(key)
                lines.append(f"Log metrics for {path.model}@{path.version}")
        elif kind == "model":
            lines.append(f"Update model {path.model}")
        elif kind == "registry":
            lines.append("Update catalog settings")
    return lines


def _load(path: Path) -> dict:
    """A file's mapping, or {} when it cannot be read (a broken file is still committed; validate reports it)."""
    try:
        data = load_file(path)
    except (OSError, RegistryError):
        return {}
    return data if isinstance(data, dict) else {}


def message(lines: list[str]) -> str:
    if not lines:
        return "Update catalog"
    subject = lines[0] if len(lines) == 1 else f"{lines[0]} (and {len(lines) - 1} more)"
    return subject if len(lines) == 1 else subject + "\n\n" + "\n".join(f"- {line}" for line in lines)


# -- committing -------------------------------------------------------------------------------------
def _pending(catalog: Catalog, root: Path, prefix: str) -> list[str]:
    """Catalog-relative paths of changed or new files, leaving out unfinished writes of other processes."""
    out = git(root, "status", "--porcelain", "-z", "--no-renames", "--untracked-files=all", "--", prefix or ".")
    paths = []
    for entry in out.split("\0"):
        if len(entry) < 4:
            continue
        path = entry[3:]
        if not path.startswith(prefix):
            continue
        rel = path[len(prefix):]
        if is_temporary(PurePosixPath(rel).name) or rel == ".modelreg" or rel.startswith(".modelreg/"):
            continue
        found = parse_path(rel)
        if found and found.version is not None and not catalog.layout.manifest(found.model, found.version).exists():
            continue  # a version still being written: it exists once its manifest does
        paths.append(rel)
    return paths


def commit_pending(catalog: Catalog) -> str | None:
    """Commit the catalog's new and changed files with a message saying what happened; None if nothing."""
    root = repo_root(catalog)
    prefix = catalog_prefix(catalog, root)
    paths = _pending(catalog, root, prefix)
    if not paths:
        return None
    text = message(describe(catalog.root, paths))
    # paths on stdin, not argv: a large import commits thousands of files
    listed = "\0".join(prefix + p for p in paths)
    spec = ["--pathspec-from-file=-", "--pathspec-file-nul"]
    for _ in range(20):  # another writer's commit may hold .git/index.lock for a moment
        done = run(root, "add", "-A", *spec, input_=listed)
        if done.returncode == 0:
            done = run(root, "commit", "-q", "-m", text, *spec, input_=listed)
        if done.returncode == 0:
            return git(root, "rev-parse", "HEAD").strip()
        if "index.lock" not in done.stderr:
            break
        time.sleep(0.1)
    raise CatalogError(f"git commit failed in {root}: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")


def auto_commit_on(catalog: Catalog) -> bool:
    """``MODELREG_GIT_COMMIT`` (1/true/yes or 0/false/no) wins over registry.yaml's ``git: {auto_commit}``."""
    env = os.environ.get(ENV, "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    return load_settings(catalog.layout)[0].git_auto_commit  # registry.yaml alone: no index refresh per write


def after_write(catalog: Catalog) -> None:
    """Commit what a write just added when auto-commit is on; the write itself has already happened."""
    if not auto_commit_on(catalog):
        return
    try:
        commit_pending(catalog)
    except CatalogError as exc:
        raise CatalogError(f"written, but not committed (auto-commit is on): {exc}") from None


def committing(method: Callable[..., T]) -> Callable[..., T]:
    """Decorate a Catalog write method: after it returns, commit what it wrote when auto-commit is on."""

    @functools.wraps(method)
    def wrapper(self: Catalog, *args: Any, **kwargs: Any) -> T:
        result = method(self, *args, **kwargs)
        after_write(self)
        return result

    return wrapper


# -- sync ----------------------------------------------------------------------------------------------
@dataclass
class SyncResult:
    committed: str | None = None
    renumbered: list[dict] = field(default_factory=list)
    pulled: int = 0
    pushed: int = 0
    attempts: int = 0
    dropped: list[dict] = field(default_factory=list)  # stale local events removed by --drop-stale

    def to_dict(self) -> dict[str, Any]:
        return {"committed": self.committed, "renumbered": self.renumbered, "pulled": self.pulled,
                "pushed": self.pushed, "attempts": self.attempts, "dropped": self.dropped}


def _tree_versions(root: Path, rev: str, prefix: str) -> dict[str, set[int]]:
    out = git(root, "ls-tree", "-r", "--name-only", "-z", rev, "--", f"{prefix}models")
    found: dict[str, set[int]] = {}
    for path in out.split("\0"):
        parsed = parse_path(path[len(prefix):]) if path.startswith(prefix) else None
        if parsed and parsed.kind == "manifest":
            found.setdefault(parsed.model, set()).add(parsed.version)
    return found


def plan_renumbering(base: dict[str, set[int]], local: dict[str, set[int]],
                     theirs: dict[str, set[int]]) -> dict[str, dict[int, int]]:
    """Local unpushed versions that collide with the remote's, and the numbers they move to.

    Every unpushed version of a model with a collision moves, in order, to the numbers after the
    highest the remote (or the shared base) has, so a clone's versions keep their relative order.
    """
    plan: dict[str, dict[int, int]] = {}
    for model, numbers in local.items():
        mine = sorted(numbers - base.get(model, set()))
        if not set(mine) & theirs.get(model, set()):
            continue
        start = max(theirs.get(model, set()) | base.get(model, set())) + 1
        if start + len(mine) - 1 > MAX_VERSION:
            raise Conflict(f"sync: {model}: renumbering {len(mine)} local version(s) after {start - 1} would pass "
                           "2^63 - 1, the largest version number; nothing was changed")
        moves = {old: start + i for i, old in enumerate(mine)}
        plan[model] = {old: new for old, new in moves.items() if old != new}
    return plan


def _rewrite_blob(data: bytes, kind: str, model: str, plan: dict[str, dict[int, int]]) -> bytes | None:
    """New content for a local manifest or event naming a renumbered version; None when unchanged."""
    try:
        tree = loads(data, Path(kind))
    except RegistryError:
        return None
    if not isinstance(tree, dict):
        return None
    changed = False
    moves = plan.get(model, {})
    keys = ("version",) if kind == "manifest" else ("version", "rollback_of")
    for key in keys:
        if isinstance(tree.get(key), int) and tree[key] in moves:
            tree[key] = moves[tree[key]]
            changed = True
    lineage = tree.get("lineage") if kind == "manifest" else None
    if isinstance(lineage, dict) and isinstance(lineage.get("parents"), list):
        parents = []
        for parent in lineage["parents"]:
            name, _, number = str(parent).partition("@")
            if is_digits(number) and int(number) in plan.get(name, {}):
                parent = f"{name}@{plan[name][int(number)]}"
                changed = True
            parents.append(parent)
        lineage["parents"] = parents
    return dumps(tree) if changed else None


def _rewrite_commits(root: Path, prefix: str, base: str, plan: dict[str, dict[int, int]],
                     drop: frozenset[str] = frozenset()) -> str:
    """Replay base..HEAD with the renumbering applied to each commit's tree, without the ``drop`` paths
    (repository-relative); a commit left with no change is skipped.  Returns the new tip."""
    commits = git(root, "rev-list", "--reverse", "--topo-order", f"{base}..HEAD").split()
    if git(root, "rev-list", "--merges", f"{base}..HEAD").strip():
        raise Conflict("sync: your unpushed commits include a merge; renumbering needs a linear history "
                       "(rebase them first)")
    shared = set(git(root, "ls-tree", "-r", "--name-only", "-z", base).split("\0"))
    blobs: dict[tuple[str, str], str] = {}
    names = "|".join(re.escape(m) for m in sorted(plan, key=len, reverse=True))
    renamed = re.compile(rf"(?<![\w.-])(?P<model>{names})@(?P<n>[0-9]+)(?![0-9])") if plan else None  # MODEL@N
    parent = base
    with tempfile.TemporaryDirectory(prefix="modelreg-sync-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        for commit in commits:
            git(root, "read-tree", commit, env=env)
            listing = git(root, "ls-tree", "-r", "-z", commit, "--", f"{prefix}models")
            updates = []
            for entry in filter(None, listing.split("\0")):
                meta, path = entry.split("\t", 1)
                mode, _, sha = meta.split()
                if path in drop:
                    updates.append(f"0 {ZERO}\t{path}")
                    continue
                if path in shared or not path.startswith(prefix):
                    continue
                found = parse_path(path[len(prefix):])
                if not found:
                    continue
                model = found.model
                new_path, new_sha = path, sha
                if found.version is not None and found.version in plan.get(model, {}):
                    new_path = prefix + build_path(found.kind, model, plan[model][found.version], found.file)
                kind = found.kind if found.kind in ("manifest", "event") else None
                if kind:
                    if (sha, path) not in blobs:
                        data = git_bytes(root, "cat-file", "blob", sha)
                        rewritten = _rewrite_blob(data, kind, model, plan)
                        blobs[(sha, path)] = sha if rewritten is None else hash_blob(root, rewritten)
                    new_sha = blobs[(sha, path)]
                if (new_path, new_sha) != (path, sha):
                    updates.append(f"0 {ZERO}\t{path}")
                    updates.append(f"{mode} {new_sha}\t{new_path}")
            if updates:
                # removals first, then additions: a move into a number another local version leaves
                ordered = [u for u in updates if u.startswith("0 ")] + [u for u in updates if not u.startswith("0 ")]
                git(root, "update-index", "--index-info", env=env, input_="\n".join(ordered) + "\n")
            tree = git(root, "write-tree", env=env).strip()
            if drop and tree == git(root, "rev-parse", f"{parent}^{{tree}}").strip():
                continue  # it only added dropped events
            author = git(root, "log", "-1", "--format=%an%x00%ae%x00%ad", "--date=raw", commit).rstrip("\n").split("\0")
            text = git(root, "log", "-1", "--format=%B", commit)
            if renamed is not None:
                text = renamed.sub(lambda m: f"{m['model']}@{plan[m['model']].get(int(m['n']), m['n'])}", text)
            parent = git(root, "commit-tree", tree, "-p", parent, "-F", "-", input_=text,
                         env={"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1],
                              "GIT_AUTHOR_DATE": author[2]}).strip()
    return parent


def _upstream(root: Path, remote: str | None) -> tuple[str, str, str]:
    """(remote, remote branch, local branch) of the current branch."""
    branch = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip()
    if not branch:
        raise CatalogError(f"sync: {root} is on a detached HEAD; check out a branch first")
    remote = remote or git(root, "config", f"branch.{branch}.remote", check=False).strip() or "origin"
    merge = git(root, "config", f"branch.{branch}.merge", check=False).strip()
    return remote, merge.removeprefix("refs/heads/") or branch, branch


def _added_events(root: Path, prefix: str, old: str, new: str) -> dict[str, set[str]]:
    """model -> ids of the event files added between two commits."""
    found: dict[str, set[str]] = {}
    out = git(root, "diff", "--name-only", "--diff-filter=A", "--no-renames", "-z", old, new, "--", f"{prefix}models")
    for path in filter(None, out.split("\0")):
        parsed = parse_path(path[len(prefix):]) if path.startswith(prefix) else None
        if parsed and parsed.kind == "event":
            found.setdefault(parsed.model, set()).add(parsed.file.removesuffix(EVENT_SUFFIX))
    return found


def _check_stale(catalog: Catalog, root: Path, prefix: str, base: str, tracking: str, drop: bool,
                 result: SyncResult, before: str) -> None:
    """Refuse (exit 3) to push local events whose decision no longer holds after the pull, or drop them.

    On refusal the branch goes back to ``before`` (the local commits as they were, not rebased), so the
    next sync sees the same pulled events and gives the same answer.
    """
    from registry_core.integrations.stale import stale_events

    local = _added_events(root, prefix, tracking, "HEAD")
    if not local:
        return
    fresh = catalog.as_user(catalog.user)
    stale = stale_events(fresh, local, _added_events(root, prefix, base, tracking))
    if not stale:
        return
    old_tip = git(root, "rev-parse", "HEAD").strip()
    branch = git(root, "symbolic-ref", "--quiet", "HEAD").strip()
    if not drop:
        git(root, "read-tree", "-m", "-u", old_tip, before)
        git(root, "update-ref", "-m", "modelreg sync: stale events, back to the local commits", branch, before,
            old_tip)
        listed = "; ".join(f"{s.path}: {s.why}" for s in stale)
        raise PolicyRefused(f"sync: {len(stale)} local event(s) no longer hold after the pull and were not pushed "
                            f"(your commits are kept as they were): {listed}. Redo the decision on the pulled "
                            "state, or run 'modelreg sync --drop-stale' to remove them and push the rest")
    new_tip = _rewrite_commits(root, prefix, tracking, {}, frozenset(prefix + s.path for s in stale))
    git(root, "read-tree", "-m", "-u", old_tip, new_tip)
    git(root, "update-ref", "-m", "modelreg sync: drop stale events", branch, new_tip, old_tip)
    result.dropped += [s.to_dict() for s in stale]


def sync(catalog: Catalog, remote: str | None = None, push: bool = True, attempts: int = 5,
         drop_stale: bool = False) -> SyncResult:
    """Commit pending catalog files, pull with rebase (renumbering colliding local versions), check that
    no local event went stale on the merged state (exit 3, or drop them with ``drop_stale``), push."""
    root = repo_root(catalog)
    prefix = catalog_prefix(catalog, root)
    result = SyncResult(committed=commit_pending(catalog))
    remote, remote_branch, branch = _upstream(root, remote)
    tracking = f"refs/remotes/{remote}/{remote_branch}"
    if not git(root, "ls-remote", "--heads", remote, f"refs/heads/{remote_branch}").strip():
        if push:  # the first push of this branch: nothing to pull or renumber yet
            git(root, "push", "--quiet", "--set-upstream", remote, f"HEAD:refs/heads/{remote_branch}")
            result.pushed = int(git(root, "rev-list", "--count", "HEAD").strip())
        return result
    for attempt in range(1, attempts + 1):
        result.attempts = attempt
        git(root, "fetch", "--quiet", remote, f"+refs/heads/{remote_branch}:{tracking}")
        base = git(root, "merge-base", "HEAD", tracking).strip()
        plan = plan_renumbering(_tree_versions(root, base, prefix), _tree_versions(root, "HEAD", prefix),
                                _tree_versions(root, tracking, prefix))
        if plan:
            old_tip = git(root, "rev-parse", "HEAD").strip()
            new_tip = _rewrite_commits(root, prefix, base, plan)
            git(root, "read-tree", "-m", "-u", old_tip, new_tip)
            git(root, "update-ref", "-m", "modelreg sync: renumber local versions", f"refs/heads/{branch}", new_tip,
                old_tip)
            result.renumbered += [{"model": m, "from": old, "to": new} for m, moves in sorted(plan.items())
                                  for old, new in sorted(moves.items())]
        result.pulled += int(git(root, "rev-list", "--count", f"HEAD..{tracking}").strip())
        before = git(root, "rev-parse", "HEAD").strip()
        done = run(root, "rebase", "--quiet", "--autostash", tracking)
        if done.returncode != 0:
            conflicts = git(root, "diff", "--name-only", "--diff-filter=U", check=False).split()
            run(root, "rebase", "--abort")
            raise Conflict(f"sync: git rebase onto {remote}/{remote_branch} stopped on a conflict in "
                           f"{', '.join(conflicts) or 'your changes'}; nothing was pushed (resolve with "
                           "'git pull --rebase', then run sync again)")
        _check_stale(catalog, root, prefix, base, tracking, drop_stale, result, before)
        ahead = int(git(root, "rev-list", "--count", f"{tracking}..HEAD").strip())
        if not push or not ahead:
            return result
        done = run(root, "push", "--quiet", remote, f"HEAD:refs/heads/{remote_branch}")
        if done.returncode == 0:
            result.pushed = ahead
            return result
        if not re.search(r"rejected|fetch first|non-fast-forward|stale info", done.stderr):
            raise CatalogError(f"sync: git push failed: {done.stderr.strip().splitlines()[-1:]}")
    raise Conflict(f"sync: {remote}/{remote_branch} kept moving during {attempts} attempts; run sync again")


def pull_only(catalog: Catalog, remote: str | None = None) -> SyncResult:
    """``sync --pull-only``: fast-forward a read-only clone (a dashboard replica, a CI job) to its upstream.

    Nothing is committed, renumbered or pushed; a clone with commits or changes of its own is refused
    rather than rebased, because a replica that writes is a writer and should run plain ``sync``.
    """
    root = repo_root(catalog)
    remote, remote_branch, _ = _upstream(root, remote)
    tracking = f"refs/remotes/{remote}/{remote_branch}"
    git(root, "fetch", "--quiet", remote, f"+refs/heads/{remote_branch}:{tracking}")
    result = SyncResult(attempts=1, pulled=int(git(root, "rev-list", "--count", f"HEAD..{tracking}").strip()))
    done = run(root, "merge", "--quiet", "--ff-only", tracking)
    if done.returncode != 0:
        raise Conflict(f"sync --pull-only: {root} cannot fast-forward to {remote}/{remote_branch} (it has commits "
                       "or changes of its own); a writer runs 'modelreg sync'")
    return result
