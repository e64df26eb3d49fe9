"""Where files live inside a catalog folder (SPEC section 1)."""

from __future__ import annotations

from pathlib import Path

from registry_core.format.names import check_name, check_version

REGISTRY_FILE = "registry.yaml"
CACHE_DIR = ".modelreg"
MODELS_DIR = "models"
MODEL_FILE = "model.yaml"
VERSIONS_DIR = "versions"
MANIFEST = "manifest.yaml"
METRICS_DIR = "metrics"
ARTIFACTS_DIR = "artifacts"
EVENTS_DIR = "events"


class Layout:
    """Paths of one catalog. Every path built from a name goes through the name checks."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def registry(self) -> Path:
        return self.root / REGISTRY_FILE

    @property
    def cache(self) -> Path:
        return self.root / CACHE_DIR

    @property
    def models(self) -> Path:
        return self.root / MODELS_DIR

    def model(self, model: str) -> Path:
        return self.models / check_name(model)

    def model_file(self, model: str) -> Path:
        return self.model(model) / MODEL_FILE

    def versions(self, model: str) -> Path:
        return self.model(model) / VERSIONS_DIR

    def version(self, model: str, version: int) -> Path:
        return self.versions(model) / str(check_version(version))

    def manifest(self, model: str, version: int) -> Path:
        return self.version(model, version) / MANIFEST

    def metrics(self, model: str, version: int) -> Path:
        return self.version(model, version) / METRICS_DIR

    def artifacts(self, model: str, version: int) -> Path:
        return self.version(model, version) / ARTIFACTS_DIR

    def events(self, model: str) -> Path:
        return self.model(model) / EVENTS_DIR

    def relative(self, path: Path) -> str:
        return Path(path).relative_to(self.root).as_posix()
