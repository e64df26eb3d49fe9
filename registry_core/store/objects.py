"""Object stores (S3 and S3-compatible servers, GCS, Azure, plain HTTPS for reading) through ``obstore``.

``obstore`` (the optional extra ``modelreg[s3]``) wraps the Rust ``object_store`` crate: one maintained
library for every cloud, credentials from each cloud's standard environment and config files, streaming
reads and multipart writes with bounded memory.  docs/integrations.md says why it was chosen over
fsspec/s3fs and boto3.

Create-if-absent: a body given as bytes is one PUT with ``If-None-Match: *`` (obstore ``mode="create"``).
A stream is a multipart upload, which obstore 0.12 cannot make conditional; the caller only streams to a
content-addressed key it checked to be absent, so a writer racing it writes the very same bytes.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from registry_core.errors import CatalogError, InvalidInput, NotFound
from registry_core.format.artifact_settings import ArtifactSettings
from registry_core.store.blobs import CHUNK, ObjectInfo

CONCURRENCY = 4  # parts in flight per multipart upload: memory is about CHUNK * (CONCURRENCY + 1)
_HTTP_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")


class StoreError(CatalogError):
    """The store could not be reached or refused a request."""


def _short(exc: BaseException) -> str:
    """obstore's messages carry a multi-line debug dump; the first line says what happened."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return first[:300]


def _import():
    try:
        import obstore
        from obstore.store import from_url
    except ImportError:
        raise InvalidInput("artifact stores need the optional obstore library: pip install 'modelreg[s3]'") from None
    return obstore, from_url


def _profile_credentials():
    """AWS profiles (``AWS_PROFILE``, ``~/.aws/config`` and ``credentials``, SSO) through boto3 when it is
    installed and no keys are in the environment: obstore alone reads only the environment and instance
    metadata."""
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return None
    aws = Path(os.environ.get("AWS_CONFIG_FILE") or Path.home() / ".aws" / "config").parent
    if not (os.environ.get("AWS_PROFILE") or aws.is_dir()):
        return None
    try:
        import boto3
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError:
        return None
    session = boto3.Session()
    return Boto3CredentialProvider(session) if session.get_credentials() is not None else None


def _allow_http(settings: ArtifactSettings) -> bool:
    return settings.allow_http or os.environ.get("AWS_ALLOW_HTTP", "").lower() == "true"


class ObjectBlobs:
    """A bucket (and prefix) reached through obstore."""

    def __init__(self, url: str, settings: ArtifactSettings) -> None:
        self.obstore, from_url = _import()
        self.url = url.rstrip("/")
        scheme = urlsplit(self.url).scheme
        options: dict = {"connect_timeout": "10s", "timeout": "6h"}  # timeout covers a whole (large) body
        config: dict = {}
        extra: dict = {}
        if scheme in ("s3", "s3a"):
            endpoint = settings.endpoint or next((os.environ[k] for k in _HTTP_ENV if os.environ.get(k)), None)
            if endpoint:
                config["endpoint"] = endpoint
            if endpoint and endpoint.startswith("http://"):
                if not _allow_http(settings):
                    raise InvalidInput(f"{self.url}: the endpoint {endpoint} is plain http; set 'allow_http: true' "
                                       "under artifacts: in registry.yaml (or AWS_ALLOW_HTTP=true)")
                options["allow_http"] = True
            provider = _profile_credentials()
            if provider is not None:
                extra["credential_provider"] = provider
        elif scheme == "http":
            if not _allow_http(settings):
                raise InvalidInput(f"{self.url}: plain http; set 'allow_http: true' under artifacts: in registry.yaml")
            options["allow_http"] = True
        try:
            self._store = from_url(self.url, config=config or None, client_options=options,
                                   retry_config={"max_retries": 3, "retry_timeout": dt.timedelta(seconds=30)},
                                   **extra)
        except Exception as exc:  # obstore raises its own family, ValueError and more for a bad URL
            raise InvalidInput(f"artifact store {self.url}: {_short(exc)}") from None

    def _fail(self, key: str, exc: BaseException) -> StoreError:
        return StoreError(f"{self.url}/{key}: unreachable or refused: {_short(exc)}")

    def size(self, key: str) -> int | None:
        try:
            return int(self.obstore.head(self._store, key)["size"])
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self._fail(key, exc) from None

    def read(self, key: str) -> Iterator[bytes]:
        try:
            result = self.obstore.get(self._store, key)
            yield from result.stream(min_chunk_size=CHUNK)
        except FileNotFoundError:
            raise NotFound(f"{self.url}/{key}: no such object") from None
        except Exception as exc:
            raise self._fail(key, exc) from None

    def create(self, key: str, data: bytes | Iterable[bytes]) -> bool:
        errors = self.obstore.exceptions
        try:
            if isinstance(data, bytes | bytearray | memoryview):
                self.obstore.put(self._store, key, data, mode="create")
            else:
                self.obstore.put(self._store, key, data, chunk_size=CHUNK, max_concurrency=CONCURRENCY)
        except errors.AlreadyExistsError:
            return False
        except Exception as exc:
            raise self._fail(key, exc) from None
        return True

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        try:
            for batch in self.obstore.list(self._store, prefix=prefix, chunk_size=1000):
                for meta in batch:
                    yield ObjectInfo(meta["path"], int(meta["size"]), meta["last_modified"])
        except Exception as exc:
            raise self._fail(prefix, exc) from None

    def delete(self, key: str) -> None:
        try:
            self.obstore.delete(self._store, key)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise self._fail(key, exc) from None
