"""Upload and download throughput of one large artifact through modelreg, next to obstore on its own.

    python benchmarks/artifacts.py --size-mb 1024                      # starts moto's S3 server itself
    python benchmarks/artifacts.py --size-mb 1024 --endpoint http://127.0.0.1:5000

Phases (each timed, with the CPU time of this process, i.e. the client's work, and the peak resident
memory of this process during it, reset between phases through /proc/self/clear_refs, so the figures
are per phase and do not include the S3 server):
  raw put       obstore.put of the file (same chunk size and concurrency modelreg uses)
  upload_file   the store-level upload: one sha256 pass, HEAD, then the multipart upload, then a stat check
  register      Catalog.register with an artifact store: the same plus opening the catalog and the manifest
  re-register   the same file again: hashed, found in the store with its size, not uploaded
  raw get       obstore.get streamed to a file
  pull          modelreg pull: HEAD, stream to a temporary file while hashing, rename
  verify --deep stream and hash the object, no file written
Numbers are printed, never asserted.  Memory stays bounded: chunks of 8 MiB, 4 parts in flight.
Run it with ``/usr/bin/time -v`` for the whole process's peak; with ``--endpoint`` the S3 server is
another process tree, so that figure is modelreg's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import obstore  # noqa: E402

from registry_core import Catalog  # noqa: E402
from registry_core.integrations.pull import pull  # noqa: E402
from registry_core.store.blobs import CHUNK, open_store  # noqa: E402
from registry_core.store.objects import CONCURRENCY  # noqa: E402
from registry_core.store.upload import upload_file  # noqa: E402


def peak_reset() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def status_mb(field: str) -> float:
    """VmHWM (peak resident memory since the last reset) or VmRSS (now) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_moto() -> tuple[str, subprocess.Popen]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return f"http://127.0.0.1:{port}", proc


def make_file(path: Path, size_mb: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as handle:
        for i in range(size_mb):
            handle.write(block[:-8] + i.to_bytes(8, "little"))


def timed(rows: list, phase: str, size: int, action, before=None) -> None:
    if before:
        before()
    peak_reset()
    rss = status_mb("VmRSS")
    cpu = time.process_time()
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    peak = status_mb("VmHWM")
    rows.append({"phase": phase, "seconds": round(seconds, 2), "MB/s": round(size / seconds / 1e6, 1),
                 "client_cpu_s": round(cpu, 2), "rss_before_mib": round(rss, 1), "peak_rss_mib": round(peak, 1)})
    print(f"{phase:14} {seconds:7.2f} s {size / seconds / 1e6:8.1f} MB/s  client CPU {cpu:6.2f} s  "
          f"RSS before {rss:6.1f} MiB, peak {peak:6.1f} MiB (+{peak - rss:.1f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="artifact size in MiB (default 1024)")
    parser.add_argument("--endpoint", help="an S3 API to use (default: start moto's server)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each upload and download phase, "
                        "alternating ours and raw (default 2; the summary uses the fastest of each)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    server = None
    endpoint = args.endpoint
    if not endpoint:
        endpoint, server = start_moto()
    work = Path(tempfile.mkdtemp(prefix="modelreg-bench-"))
    try:
        bucket = f"bench-{os.getpid()}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        source = work / "model.bin"
        make_file(source, args.size_mb)
        size = source.stat().st_size
        cat = Catalog.init(work / "cat", user="bench@example.com")
        with open(cat.layout.registry, "a") as handle:
            handle.write(f"artifacts:\n  store: s3://{bucket}/registry\n  endpoint: {endpoint}\n  allow_http: true\n")
        cat = Catalog(work / "cat", user="bench@example.com")
        raw = obstore.store.S3Store(bucket, endpoint=endpoint, client_options={"allow_http": True, "timeout": "6h"},
                                    region="us-east-1")
        print(f"{size / 1e6:.0f} MB against {endpoint}; chunk {CHUNK >> 20} MiB, {CONCURRENCY} parts in flight")
        rows: list[dict] = []
        s3 = boto3.client("s3", endpoint_url=endpoint)
        store = open_store(cat.settings.artifacts.store, cat.settings.artifacts)

        def forget() -> None:  # so that every register uploads again (else the object is found and skipped)
            for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=item["Key"])

        for _ in range(args.repeat):
            timed(rows, "raw put", size, lambda: obstore.put(raw, "raw/model.bin", source, chunk_size=CHUNK,
                                                             max_concurrency=CONCURRENCY), before=forget)
            timed(rows, "upload_file", size, lambda: upload_file(store, source), before=forget)
            timed(rows, "register", size, lambda: cat.register("big", artifacts=[source]), before=forget)
        timed(rows, "re-register", size, lambda: cat.register("big", artifacts=[source]))
        obstore.put(raw, "raw/model.bin", source, chunk_size=CHUNK, max_concurrency=CONCURRENCY)

        def raw_get() -> None:
            with open(work / "raw-get.bin", "wb") as handle:
                for chunk in obstore.get(raw, "raw/model.bin").stream(min_chunk_size=CHUNK):
                    handle.write(chunk)

        ref = f"big@{args.repeat}"
        for _ in range(args.repeat):
            timed(rows, "raw get", size, raw_get)
            (work / "raw-get.bin").unlink()
            timed(rows, "pull", size, lambda: pull(cat, ref, work / "pulled"))
            shutil.rmtree(work / "pulled")
        timed(rows, "verify --deep", size, lambda: cat.verify(ref, deep=True))
        folder = sum(p.stat().st_size for p in (work / "cat" / "models").rglob("*") if p.is_file())
        print(f"catalog folder (models/): {folder} bytes")
        best = {}
        for row in rows:
            best[row["phase"]] = min(best.get(row["phase"], row["seconds"]), row["seconds"])
        print(f"fastest: upload overhead vs raw put {best['upload_file'] / best['raw put'] - 1:+.1%} (store), "
              f"{best['register'] / best['raw put'] - 1:+.1%} (register); "
              f"download overhead vs raw get {best['pull'] / best['raw get'] - 1:+.1%}")
        if args.json:
            Path(args.json).write_text(json.dumps({"size": size, "rows": rows}, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if server is not None:
            server.terminate()


if __name__ == "__main__":
    main()
