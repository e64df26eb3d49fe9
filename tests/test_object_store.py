"""Artifacts on object storage against a real S3 API (moto's server on localhost), checked in the bucket.

Every assertion about stored bytes reads the bucket through boto3, a different client from the one
modelreg writes with (obstore), so nothing here is a mock of the code under test.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("obstore", reason="obstore (modelreg[s3]) is not installed")
moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed: no local S3 API to test on")
boto3 = pytest.importorskip("boto3", reason="boto3 (comes with moto) is not installed")

from registry_core import Catalog  # noqa: E402
from registry_core.errors import CatalogError, InvalidInput  # noqa: E402
from registry_core.format.artifact_settings import parse_artifacts  # noqa: E402

MB = 1 << 20


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """A fresh bucket; fake credentials in the environment (never in the catalog)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ALLOW_HTTP", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    bucket = f"models-{secrets.token_hex(4)}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    client.endpoint, client.bucket = s3_endpoint, bucket
    return client


def objects(s3) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=s3.bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=s3.bucket, Key=o["Key"])["Body"].read() for o in listing}


def store_catalog(root: Path, s3, extra: str = "") -> Catalog:
    cat = Catalog.init(root, name="store test", user="bob@example.com")
    with open(cat.layout.registry, "a") as handle:
        handle.write(f"artifacts:\n  store: s3://{s3.bucket}/registry\n  endpoint: {s3.endpoint}\n"
                     f"  allow_http: true\n{extra}")
    return Catalog(root, user="bob@example.com")


def write(path: Path, size: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = hashlib.sha256(str(seed).encode()).digest() * (MB // 32)
    with open(path, "wb") as handle:
        for start in range(0, size, MB):
            handle.write(block[: min(MB, size - start)])
    return path


def key_of(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"registry/sha256/{digest[:2]}/{digest}"


def cli(*args: str, cat: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "registry_core.cli", "--catalog", str(cat), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_register_uploads_content_addressed_and_dedups(tmp_path, s3):
    cat = store_catalog(tmp_path / "cat", s3)
    small = write(tmp_path / "in" / "model.bin", 1000)
    big = write(tmp_path / "in" / "weights" / "shard-0.bin", 20 * MB + 123, seed=1)
    write(tmp_path / "in" / "weights" / "config.json", 10, seed=2)
    first = cat.register("fraud", artifacts=[small, tmp_path / "in" / "weights"])
    stored = objects(s3)
    assert len(stored) == 3
    assert stored[key_of(small.read_bytes())] == small.read_bytes()
    assert stored[key_of(big.read_bytes())] == big.read_bytes()
    manifest = cat.get("fraud@1")["manifest"]
    entries = {a["path"]: a for a in manifest["artifacts"]}
    assert set(entries) == {"artifacts/model.bin", "artifacts/weights/shard-0.bin", "artifacts/weights/config.json"}
    shard = entries["artifacts/weights/shard-0.bin"]
    assert shard["uri"] == f"s3://{s3.bucket}/{key_of(big.read_bytes())}"
    assert shard["size"] == big.stat().st_size and shard["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    # nothing large entered the catalog folder: only the manifest
    folder = Path(first["path"])
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == ["manifest.yaml"]
    assert sum(p.stat().st_size for p in (tmp_path / "cat").rglob("*") if p.is_file()) < 100_000
    # the same bytes under another name are stored once
    copy = tmp_path / "again" / "renamed.bin"
    copy.parent.mkdir()
    copy.write_bytes(big.read_bytes())
    cat.register("fraud", artifacts=[copy])
    assert len(objects(s3)) == 3
    assert cat.get("fraud@2")["manifest"]["artifacts"][0]["uri"] == shard["uri"]
    assert all(r["ok"] for r in cat.verify()) and all(r["ok"] for r in cat.verify(deep=True))


def test_pull_downloads_verified_and_refuses_tampered_or_missing(tmp_path, s3):
    cat = store_catalog(tmp_path / "cat", s3)
    model = write(tmp_path / "in" / "model.bin", 12 * MB, seed=3)
    extra = write(tmp_path / "in" / "extra.txt", 500, seed=4)
    cat.register("fraud", artifacts=[model, extra])
    rows = cat_pull(cat, tmp_path / "out")
    assert {r["status"] for r in rows} == {"verified"}
    assert (tmp_path / "out" / "model.bin").read_bytes() == model.read_bytes()
    # same size, other bytes: existence+size passes, --deep, pull and a deep gate catch it
    s3.put_object(Bucket=s3.bucket, Key=key_of(extra.read_bytes()), Body=b"x" * 500)
    assert all(r["ok"] for r in cat.verify())
    result = cli("verify", "--deep", "fraud@1", cat=tmp_path / "cat")
    assert result.returncode == 1 and "sha256 mismatch" in result.stderr
    deep = {r["path"]: r for r in cat.verify(deep=True)}
    assert not deep["artifacts/extra.txt"]["ok"] and "sha256 mismatch" in deep["artifacts/extra.txt"]["message"]
    with pytest.raises(CatalogError, match="does not match"):
        cat_pull(cat, tmp_path / "out2")
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").rglob("*"))
    # a resized object fails the default verify; a deleted one too, and pull names it
    s3.put_object(Bucket=s3.bucket, Key=key_of(extra.read_bytes()), Body=b"short")
    bad = [r for r in cat.verify() if not r["ok"]]
    assert len(bad) == 1 and "size mismatch" in bad[0]["message"]
    s3.delete_object(Bucket=s3.bucket, Key=key_of(model.read_bytes()))
    result = cli("verify", "fraud@1", cat=tmp_path / "cat")
    assert result.returncode == 1 and "object is missing" in result.stdout
    result = cli("pull", "fraud@1", "--to", str(tmp_path / "out3"), cat=tmp_path / "cat")
    assert result.returncode == 1 and "missing" in result.stderr and "nothing was written" in result.stderr
    assert not any((tmp_path / "out3").rglob("*")) if (tmp_path / "out3").exists() else True
    # re-registering the same files repairs the store (the resized object is replaced)
    cat.register("fraud", artifacts=[model, extra])
    assert all(r["ok"] for r in cat.verify(deep=True))
    assert objects(s3)[key_of(extra.read_bytes())] == extra.read_bytes()


def cat_pull(cat: Catalog, to: Path) -> list[dict]:
    from registry_core.integrations.pull import pull

    return pull(cat, "fraud@1", to)


def test_gate_fails_for_missing_altered_and_unverifiable(tmp_path, s3):
    policy = ("policies:\n  production:\n    gates:\n      - {check: artifacts_verified}\n")
    cat = store_catalog(tmp_path / "cat", s3)
    (cat.layout.registry).write_text(cat.layout.registry.read_text().replace("policies: {}\n", policy))
    cat = Catalog(tmp_path / "cat", user="bob@example.com")
    model = write(tmp_path / "in" / "model.bin", 3000, seed=5)
    cat.register("fraud", artifacts=[model])
    assert cat.plan("fraud", 1, "production").gates[0].passed
    s3.delete_object(Bucket=s3.bucket, Key=key_of(model.read_bytes()))
    gate = cat.plan("fraud", 1, "production").gates[0]
    assert not gate.passed and "object is missing" in gate.message
    # a URI no store here can read is never taken on trust
    cat.register("fraud", artifacts=[{"uri": "runs:/abc/model.pkl", "sha256": "a" * 64, "size": 3}])
    gate = cat.plan("fraud", 2, "production").gates[0]
    assert not gate.passed and "unverified" in gate.message
    # an unreachable server fails with the reason
    cat.register("fraud", artifacts=[{"uri": "https://127.0.0.1:9/x.bin", "sha256": "a" * 64, "size": 3}])
    gate = cat.plan("fraud", 3, "production").gates[0]
    assert not gate.passed and "cannot be checked" in gate.message
    # another bucket on the same server is fetched and checked too
    s3.create_bucket(Bucket=s3.bucket + "-other")
    s3.put_object(Bucket=s3.bucket + "-other", Key="m/w.bin", Body=b"abc")
    digest = hashlib.sha256(b"abc").hexdigest()
    cat.register("fraud", artifacts=[{"uri": f"s3://{s3.bucket}-other/m/w.bin", "sha256": digest, "size": 3}])
    assert cat.plan("fraud", 4, "production").gates[0].passed
    out = tmp_path / "pulled"
    from registry_core.integrations.pull import pull

    pull(cat, "fraud@4", out)
    assert (out / "w.bin").read_bytes() == b"abc"


def test_deep_gate_setting_catches_altered_bytes(tmp_path, s3):
    policy = ("policies:\n  production:\n    gates:\n      - {check: artifacts_verified}\n")
    cat = store_catalog(tmp_path / "cat", s3, extra="  verify: deep\n")
    (cat.layout.registry).write_text(cat.layout.registry.read_text().replace("policies: {}\n", policy))
    cat = Catalog(tmp_path / "cat", user="bob@example.com")
    model = write(tmp_path / "in" / "model.bin", 4000, seed=6)
    cat.register("fraud", artifacts=[model])
    s3.put_object(Bucket=s3.bucket, Key=key_of(model.read_bytes()), Body=b"y" * 4000)
    gate = cat.plan("fraud", 1, "production").gates[0]
    assert not gate.passed and "sha256 mismatch" in gate.message


def test_killed_upload_leaves_no_manifest_and_gc_finds_the_orphan(tmp_path, s3):
    cat = store_catalog(tmp_path / "cat", s3)
    folder = tmp_path / "in" / "model"
    first = write(folder / "a.bin", 2000, seed=7)
    write(folder / "b.bin", 400 * MB, seed=8)  # long enough to be killed mid-upload
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "registry_core.cli", "--catalog", str(tmp_path / "cat"),
                             "register", "fraud", "--artifact", str(folder)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while key_of(first.read_bytes()) not in objects(s3) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert key_of(first.read_bytes()) in objects(s3), proc.communicate(timeout=5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert not list((tmp_path / "cat" / "models").rglob("manifest.yaml"))
    kept = write(tmp_path / "kept.bin", 100, seed=9)
    cat.register("fraud", artifacts=[kept])
    orphan = f"s3://{s3.bucket}/{key_of(first.read_bytes())}"
    assert cat.gc(older_than_s=3600, dry_run=True, objects=True) == []  # too young: may be a writer at work
    result = cli("gc", "--objects", "--older-than", "0", "--dry-run", "--format", "json", cat=tmp_path / "cat")
    assert result.returncode == 0 and orphan in result.stdout and "would remove" in result.stdout
    assert key_of(first.read_bytes()) in objects(s3)
    assert cat.gc(older_than_s=0, objects=True) == [orphan]
    assert set(objects(s3)) == {key_of(kept.read_bytes())}
    assert all(r["ok"] for r in cat.verify(deep=True))


def test_inline_max_keeps_small_files_in_the_version_folder(tmp_path, s3):
    cat = store_catalog(tmp_path / "cat", s3, extra="  inline_max: 1KB\n")
    small = write(tmp_path / "in" / "config.json", 200, seed=10)
    big = write(tmp_path / "in" / "model.bin", 5000, seed=11)
    result = cat.register("fraud", artifacts=[small, big])
    entries = {a["path"]: a for a in cat.get("fraud@1")["manifest"]["artifacts"]}
    assert "uri" not in entries["artifacts/config.json"] and "uri" in entries["artifacts/model.bin"]
    assert (Path(result["path"]) / "artifacts" / "config.json").read_bytes() == small.read_bytes()
    assert list(objects(s3)) == [key_of(big.read_bytes())]


def test_tracking_run_uploads_and_dashboard_download(tmp_path, s3):
    from registry_core.integrations.tracking import start_run

    cat = store_catalog(tmp_path / "cat", s3)
    model = write(tmp_path / "in" / "model.bin", 9 * MB, seed=12)
    notes = write(tmp_path / "in" / "notes.txt", 50, seed=13)
    with start_run("fraud", catalog=cat, code=False) as run:
        run.log_artifact(model)
        run.log_artifact(notes)
        run.log_metric("roc_auc", 0.9)
    assert key_of(model.read_bytes()) in objects(s3)
    assert not list((tmp_path / "cat").rglob("model.bin"))
    bundle = cat.artifact_download("fraud@1", limit=20 * MB)
    with zipfile.ZipFile(io.BytesIO(bundle["data"])) as archive:
        assert archive.read("model.bin") == model.read_bytes()
    too_big = cat.artifact_download("fraud@1", limit=MB)
    assert too_big["data"] is None and any(u.startswith(f"s3://{s3.bucket}/") for u in too_big["uris"])


def test_settings_refuse_credentials_plain_http_and_bad_urls():
    with pytest.raises(InvalidInput, match="credentials never live in the catalog"):
        parse_artifacts({"store": "s3://b/p", "secret_access_key": "x"}, "registry.yaml")
    with pytest.raises(InvalidInput, match="plain http"):
        parse_artifacts({"store": "s3://b/p", "endpoint": "http://minio:9000"}, "registry.yaml")
    with pytest.raises(InvalidInput, match="scheme must be one of"):
        parse_artifacts({"store": "ftp://b/p"}, "registry.yaml")
    with pytest.raises(InvalidInput, match="inline_max"):
        parse_artifacts({"store": "s3://b/p", "inline_max": "lots"}, "registry.yaml")
    parsed = parse_artifacts({"store": "s3://b/p/", "inline_max": "1MiB", "endpoint": "https://s3.example"}, "r")
    assert parsed.store == "s3://b/p" and parsed.inline_max == MB


def test_endpoint_from_environment_and_missing_bucket(tmp_path, s3, monkeypatch):
    cat = Catalog.init(tmp_path / "cat", user="bob@example.com")
    with open(cat.layout.registry, "a") as handle:
        handle.write(f"artifacts:\n  store: s3://{s3.bucket}/registry\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    model = write(tmp_path / "in" / "m.bin", 100, seed=14)
    result = cli("register", "fraud", "--artifact", str(model), cat=tmp_path / "cat")
    assert result.returncode == 1 and "plain http" in result.stderr
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    result = cli("register", "fraud", "--artifact", str(model), cat=tmp_path / "cat")
    assert result.returncode == 0, result.stderr
    assert key_of(model.read_bytes()) in objects(s3)
    with open(cat.layout.registry, "a") as handle:
        handle.write("")
    text = cat.layout.registry.read_text().replace(s3.bucket, "no-such-bucket")
    cat.layout.registry.write_text(text)
    result = cli("register", "fraud", "--artifact", str(model), cat=tmp_path / "cat")
    assert result.returncode == 1 and result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "cat" / "models" / "fraud" / "versions" / "2").exists()


def test_a_file_changed_during_its_upload_is_not_registered(tmp_path, s3):
    cat = store_catalog(tmp_path / "cat", s3)
    model = write(tmp_path / "in" / "model.bin", 20 * MB, seed=15)

    def edit(name, done, total):  # the training job rewrites the file while it is being sent
        if done < total:
            with open(model, "ab") as handle:
                handle.write(b"more")

    with pytest.raises(CatalogError, match="changed while it was being uploaded"):
        cat.register("fraud", artifacts=[model], progress=edit)
    assert objects(s3) == {}
    assert not (tmp_path / "cat" / "models" / "fraud" / "versions" / "1").exists()


def test_progress_bar_only_on_a_terminal(tmp_path, s3):
    import pty

    store_catalog(tmp_path / "cat", s3)
    model = write(tmp_path / "in" / "model.bin", 12 * MB, seed=16)
    piped = cli("register", "fraud", "--artifact", str(model), cat=tmp_path / "cat")
    assert piped.returncode == 0 and piped.stderr == ""
    other = write(tmp_path / "in" / "other.bin", 12 * MB, seed=17)
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-m", "registry_core.cli", "--catalog", str(tmp_path / "cat"),
                           "register", "fraud", "--artifact", str(other)], stdout=subprocess.PIPE,
                          stderr=follower, env=env, timeout=120)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.returncode == 0 and b"uploading other.bin: 100% of 12.6 MB" in shown


def test_credentials_from_an_aws_profile(tmp_path, s3, monkeypatch, isolated_env):
    """No keys in the environment: the profile in ~/.aws is used (through boto3), never the catalog."""
    (isolated_env / ".aws").mkdir()
    (isolated_env / ".aws" / "credentials").write_text("[team]\naws_access_key_id = k\naws_secret_access_key = s\n")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_PROFILE", "team")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(isolated_env / ".aws" / "credentials"))
    cat = store_catalog(tmp_path / "cat", s3)
    model = write(tmp_path / "in" / "m.bin", 300, seed=18)
    cat.register("fraud", artifacts=[model])
    assert key_of(model.read_bytes()) in objects(s3)


PEAK = """
import sys
from pathlib import Path
from registry_core import Catalog
Catalog(sys.argv[1], user="bob@example.com").register("fraud", artifacts=[sys.argv[2]])
for path in (sys.argv[3], sys.argv[4]):
    from registry_core.integrations.pull import pull
    pull(Catalog(sys.argv[1]), "fraud@latest", path)
print([l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM")][0].split()[1])
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read peak memory")
def test_memory_stays_flat_while_large_files_stream(tmp_path, s3):
    """Peak memory of a register + pull of 32 MB and of 256 MB differ by far less than the file sizes."""
    store_catalog(tmp_path / "cat", s3)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    peaks = []
    for size in (32 * MB, 256 * MB):
        model = write(tmp_path / f"in-{size}" / "model.bin", size, seed=size)
        out = subprocess.run([sys.executable, "-c", PEAK, str(tmp_path / "cat"), str(model),
                              str(tmp_path / f"out-{size}"), str(tmp_path / f"again-{size}")],
                             capture_output=True, text=True, env=env, timeout=600)
        assert out.returncode == 0, out.stderr
        peaks.append(int(out.stdout.split()[-1]) / 1024)
        assert (tmp_path / f"out-{size}" / "model.bin").stat().st_size == size
    assert peaks[1] - peaks[0] < 48, peaks  # MiB; the files differ by 224 MiB
