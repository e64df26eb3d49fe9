"""Downloading a version's artifacts: the core bundle (verified, size-limited) and the dashboard button."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from registry_core.errors import CatalogError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def with_files(empty_catalog, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w" * 5000)
    (folder / "config.json").write_bytes(b"{}")
    empty_catalog.register("fraud", artifacts=[folder])
    single = tmp_path / "model.pkl"
    single.write_bytes(b"pickle-bytes")
    empty_catalog.register("fraud", artifacts=[single])
    return empty_catalog


def test_bundle_is_one_file_a_zip_or_the_uris(with_files):
    one = with_files.artifact_download("fraud@2", limit=10_000)
    assert one["name"] == "model.pkl" and one["data"] == b"pickle-bytes"
    many = with_files.artifact_download("fraud@1", limit=10_000)
    with zipfile.ZipFile(io.BytesIO(many["data"])) as archive:
        assert archive.read("model/weights.bin") == b"w" * 5000 and archive.read("model/config.json") == b"{}"
    big = with_files.artifact_download("fraud@1", limit=1000)
    assert big["data"] is None and big["size"] == 5002 and "artifacts/model/weights.bin" in big["uris"]


def test_bundle_refuses_altered_files(with_files):
    path = Path(with_files.resolve("fraud@2")["path"]) / "artifacts" / "model.pkl"
    path.write_bytes(b"pickle-BYTES")
    with pytest.raises(CatalogError, match="does not match"):
        with_files.artifact_download("fraud@2", limit=10_000)


def test_dashboard_prepares_a_download(with_files, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MODELREG_CATALOG", str(with_files.root))
    monkeypatch.setenv("MODELREG_USER", "bob@example.com")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.query_params["model"] = "fraud"
    at.query_params["version"] = "1"
    at.switch_page("dashboard/pages/versions.py").run()
    assert not at.exception
    assert "versions_artifacts_prepare" not in [b.key for b in at.button]  # lazy tabs: Metrics is open
    at.session_state["versions_tab"] = "Artifacts"
    at.run()
    at.button(key="versions_artifacts_prepare").click().run()
    assert not at.exception and not at.error
    buttons = [e for e in at.get("download_button") if "fraud-1-artifacts.zip" in str(e.proto.label)]
    assert buttons, [str(e.proto) for e in at.get("download_button")]


def test_a_cloud_store_without_obstore_is_one_clear_line(empty_catalog, tmp_path, monkeypatch, cli):
    import sys

    monkeypatch.setitem(sys.modules, "obstore", None)  # as if modelreg[s3] were not installed
    with open(empty_catalog.layout.registry, "a") as handle:
        handle.write("artifacts:\n  store: s3://team-models/registry\n")
    model = tmp_path / "m.bin"
    model.write_bytes(b"x")
    result = cli("register", "fraud", "--artifact", str(model), catalog=empty_catalog.root)
    assert result.code == 1
    assert result.err == "error: artifact stores need the optional obstore library: pip install 'modelreg[s3]'\n"
    assert not empty_catalog.layout.versions("fraud").exists()
