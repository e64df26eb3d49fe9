"""Watch a catalog folder (inotify through ``watchdog``) instead of stat-ing it on every read.

A long-running process (the dashboard, a service) asks the watcher what changed since it last asked:
nothing (no stat at all), some models (a check of those models), or anything else (a catalog-wide
check).  The first answer is always "anything" (changes made while the watch was being set up are
not known), and so is every answer after the watch failed or overflowed.  Writes made through the
catalog object mark their model themselves (``mark``), so a dashboard sees its own writes at once even
before the kernel's event reaches the watcher thread.

The watch is set up in a thread (inotify needs one watch per folder: a walk of the whole tree); until
it is ready every answer is "anything".  Without ``watchdog`` installed ``start`` returns None; when
the watch cannot be set up (inotify's ``max_user_watches``: a catalog of 100,000 versions has ~200,000
folders) it stays "anything" for good: either way reads check on their own, as without a watcher.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from registry_core.format.layout import CACHE_DIR, MODELS_DIR
from registry_core.index.freshness import CATALOG, Scope


class Watcher:
    """What changed in one catalog folder since the last ``take``."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.generation: Any = None  # the generation the last check returned (set by the caller)
        self._lock = threading.Lock()
        self._models: set[str] = set()
        self._everything = True  # until the first check
        self._observer: Any = None
        self._stopped = False

    def take(self) -> Scope | None:
        """The scope to check now (None: nothing changed), and forget it."""
        with self._lock:
            if self._everything or not self.ready:
                self._everything, self._models = False, set()
                return CATALOG
            if not self._models:
                return None
            models, self._models = frozenset(self._models), set()
            return models

    def put_back(self, scope: Scope) -> None:
        """A check of ``scope`` failed: it is still to be made."""
        with self._lock:
            if isinstance(scope, frozenset):
                self._models |= scope
            else:
                self._everything = True

    def mark(self, models: list[str] | None) -> None:
        """These models changed (None: something else did)."""
        with self._lock:
            if models is None:
                self._everything = True
            else:
                self._models.update(models)

    def changed(self, path: str) -> None:
        """One path changed (created, modified, moved from or to, deleted)."""
        rel = os.path.relpath(path, self.root).replace(os.sep, "/")
        parts = rel.split("/")
        if rel == "." or (parts[0] == MODELS_DIR and len(parts) == 1):
            self.mark(None)
        elif (parts[0] == MODELS_DIR and parts[1] == CACHE_DIR) or parts[0] == CACHE_DIR or parts[0] == "..":
            return  # the index's own files (or outside the catalog)
        elif parts[0] == MODELS_DIR:
            self.mark([parts[1]])
        else:
            self.mark(None)  # registry.yaml, or anything at the top

    @property
    def ready(self) -> bool:
        """True once the watch is set up and running."""
        return not self._stopped and self._observer is not None and self._observer.is_alive()

    def stop(self) -> None:
        """Stop watching: from now on every answer is "anything"."""
        self._stopped = True
        if self._observer is not None:
            self._observer.stop()


#: watchers of this process by catalog root; inotify instances are few (128 per user here, shared with
#: every other process, Streamlit's own file watcher included), so a process keeps at most MAX_WATCHERS
#: and stops the oldest (its catalog then checks on its own again)
_WATCHERS: dict[str, Watcher] = {}
_WATCHERS_LOCK = threading.Lock()
MAX_WATCHERS = 4


def start(root: Path) -> Watcher | None:
    """A running watcher of ``root`` (this process's, if it has one), or None if it cannot watch."""
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return None
    with _WATCHERS_LOCK:
        watcher = _WATCHERS.get(str(root))
        if watcher is not None:
            return watcher
        while len(_WATCHERS) >= MAX_WATCHERS:
            _WATCHERS.pop(next(iter(_WATCHERS))).stop()
        watcher = _WATCHERS[str(root)] = Watcher(root)

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: Any) -> None:
            if event.event_type in ("opened", "closed_no_write"):
                return  # reads (the index reading the catalog) change nothing
            watcher.changed(os.fsdecode(event.src_path))
            if getattr(event, "dest_path", ""):
                watcher.changed(os.fsdecode(event.dest_path))

    def run() -> None:
        """Set the watch up (a walk of every folder: seconds in a big catalog) without holding up reads,
        which check on their own until it is ready."""
        observer = Observer()
        observer.daemon = True
        try:
            observer.schedule(Handler(), watcher.root, recursive=True)
            observer.start()
        except (OSError, RuntimeError):  # e.g. inotify's watch limit: reads keep checking on their own
            observer.stop()
            return
        watcher._observer = observer
        if watcher._stopped:  # stopped while setting up
            observer.stop()
        watcher.mark(None)  # what changed during the set-up is unknown

    threading.Thread(target=run, name="modelreg-watch", daemon=True).start()
    return watcher
