"""Cloudflare Logpush ``http_requests`` batches as objects in an R2 or S3 bucket (the job's
``r2://`` / ``s3://`` destination), read through boto3's S3 client with an endpoint override.

Logpush names each batch ``<prefix>/<YYYYMMDD>/<start>_<end>_<hash>.log.gz`` (the ``{DATE}``
folder is optional; start and end are ``YYYYMMDDTHHMMSSZ``), so key order is time order. Each
poll lists the prefix (``ListObjectsV2``, paged with ``ContinuationToken``) from the day before
the newest object already read, and reads the objects not read yet, oldest key first, until the
poll's byte budget is spent (the rest next poll). An object read is known by its key (this
process) and by the SHA-256 of its bytes (its ``log_cursors`` row, so across restarts too): the
same bytes under a second key are skipped, as in the directory form (and remembered by a row
keyed by the name's hash, so a restart does not fetch them again), and a repeated ``RayID``
within a batch counts once (collectors/hls/logpush.read_batch parses both forms).

Memory: a body is streamed in 1 MiB blocks into a spooled temporary file (RAM up to 8 MiB, disk
beyond), hashed on the way, then parsed line by line; what grows with an object is its RayID set
(~100 B a record: ~10 MB for Logpush's default 100,000-record batches; bench/hls_logpush_bucket.py);
a listing holds the keys of about two days.

Errors: boto3 retries throttling (429, ``SlowDown``), 5xx and timeouts (``standard`` mode,
POLL_ATTEMPTS attempts with backoff); what still fails raises :class:`BucketError` with a
credential-free message naming the source and the bucket. A failure before anything was read
fails the poll (the runner backs off); after some objects were read, the poll ends there with a
warning and the failed object is read again next poll, so nothing is lost or counted twice.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from collectors.audience_apis.common import MAX_PAGES, POLL_ATTEMPTS
from collectors.hls.logpush import SUFFIXES, read_batch
from collectors.hls.records import Request
from collectors.hls.tailer import FileCursor
from core.settings import HlsLogSource

SPOOL_RAM_BYTES = 8 << 20
BLOCK_BYTES = 1 << 20
PAGE_KEYS = 1000  # ListObjectsV2's maximum
_DAY_FOLDER = re.compile(r"(\d{8})/[^/]*$")
AUTH_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
THROTTLE_CODES = {"SlowDown", "TooManyRequests", "Throttling", "ThrottlingException", "RequestLimitExceeded"}


class BucketError(Exception):
    """An S3 call that failed after its retries; the message never holds a credential."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code  # S3's error code (NoSuchKey, AccessDenied, ...), "" when none


class BucketAuthError(BucketError):
    """403: the credentials were refused (or lack read permission on the bucket)."""


def object_day(key: str) -> tuple[str, date] | None:
    """The ``{DATE}`` folder of a Logpush key: what comes before it and its day
    (``logs/20261201/<start>_<end>_<hash>.log.gz`` -> ("logs/", 2026-12-01); ``date={DATE}``
    too); None without one."""
    match = _DAY_FOLDER.search(key)
    if match is None:
        return None
    text = match.group(1)
    try:
        return key[: match.start(1)], date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def describe_client_error(where: str, exc: ClientError) -> str:
    response = exc.response if isinstance(exc.response, dict) else {}
    code = str((response.get("Error") or {}).get("Code") or "")
    status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    if code in AUTH_CODES or status in (401, 403):
        return (
            f"{where}: {code or status} (HTTP {status}): credentials refused, check access_key_id / "
            "secret_access_key and the key's read permission on the bucket"
        )
    if code == "NoSuchBucket" or (status == 404 and code != "NoSuchKey"):
        return f"{where}: {code or 'not found'} (HTTP {status}): no such bucket at this endpoint"
    if code in THROTTLE_CODES or status in (429, 503):
        return f"{where}: {code or 'throttled'} (HTTP {status}), still after {POLL_ATTEMPTS} attempts"
    if status >= 500:
        return f"{where}: {code or 'server error'} (HTTP {status}), still after {POLL_ATTEMPTS} attempts"
    return f"{where}: {code or 'error'} (HTTP {status})"


class LogpushBucket:
    """The not-yet-read Logpush objects under ``s3://bucket/prefix``."""

    def __init__(self, source: HlsLogSource, *, budget_bytes: int, timeout_s: float) -> None:
        self.source = source
        self.bucket, self.prefix = source.bucket_and_prefix
        self.budget_bytes = budget_bytes
        self.done_keys: set[str] = set()  # "sha256:…" of every object read (the cursors)
        self.read_objects: set[str] = set()  # object keys handled (read or skipped as a repeat)
        self._touched: list[FileCursor] = []
        self.api_calls = 0
        self.page_keys = PAGE_KEYS
        session = boto3.session.Session(
            aws_access_key_id=source.access_key_id or None,
            aws_secret_access_key=(
                source.secret_access_key.get_secret_value() if source.secret_access_key else None
            ),
            aws_session_token=source.session_token.get_secret_value() if source.session_token else None,
            region_name=source.effective_region,
        )
        config = Config(
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"total_max_attempts": POLL_ATTEMPTS, "mode": "standard"},  # the first try included
            s3={"addressing_style": "path" if source.endpoint_url else "auto"},
        )
        self.s3 = session.client("s3", endpoint_url=source.endpoint_url or None, config=config)
        self.timeout_s = timeout_s

    @property
    def where(self) -> str:
        return f"{self.source.name} (s3://{self.bucket}/{self.prefix})"

    def load(self, cursors: list[FileCursor]) -> None:
        """The objects read before (their content hashes and keys, from ``log_cursors``)."""
        own = f"s3://{self.bucket}/"
        self.done_keys = {cursor.file_key for cursor in cursors if cursor.done}
        self.read_objects = {c.path.removeprefix(own) for c in cursors if c.done and c.path.startswith(own)}

    def touched(self) -> list[FileCursor]:
        return list(self._touched)

    def _call(self, where: str, call: Callable[..., Any], **request: Any) -> Any:
        self.api_calls += 1
        try:
            return call(**request)
        except ClientError as exc:
            message = describe_client_error(f"{self.where}: {where}", exc)
            error = BucketAuthError if "credentials refused" in message else BucketError
            code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc.response, dict) else ""
            raise error(message, str(code or "")) from None
        except (ReadTimeoutError, ConnectTimeoutError):
            raise BucketError(
                f"{self.where}: {where}: timed out after {self.timeout_s:g} s ({POLL_ATTEMPTS} attempts)"
            ) from None
        except EndpointConnectionError:
            raise BucketError(f"{self.where}: {where}: cannot connect to the endpoint") from None
        except BotoCoreError as exc:
            raise BucketError(f"{self.where}: {where}: {type(exc).__name__}") from None

    def _start_after(self) -> str:
        """List from the day before the newest object read (a late batch lands in its own day
        folder, at most a day behind); without day folders, from the start of the prefix."""
        folders = [found for found in map(object_day, self.read_objects) if found is not None]
        if not folders or len(folders) < len(self.read_objects):
            return ""  # a key outside day folders: list it all
        before, newest = max(folders, key=lambda found: found[1])
        return f"{before}{(newest - timedelta(days=1)):%Y%m%d}"

    def list_new(self, warnings: list[str]) -> list[tuple[str, int]]:
        """(key, size) of the objects not read yet, oldest key first."""
        start_after = self._start_after()
        if start_after:  # keys before the listing window are never listed again
            self.read_objects = {key for key in self.read_objects if key > start_after}
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix, "MaxKeys": self.page_keys}
        if start_after:
            request["StartAfter"] = start_after
        found: list[tuple[str, int]] = []
        for _ in range(MAX_PAGES):
            page = self._call("ListObjectsV2", self.s3.list_objects_v2, **request)
            for item in page.get("Contents") or []:
                key = str(item.get("Key") or "")
                if key.endswith(SUFFIXES) and key not in self.read_objects:
                    found.append((key, int(item.get("Size") or 0)))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return sorted(found)
            request["ContinuationToken"] = token
        warnings.append(f"{self.where}: listing stopped after {MAX_PAGES} pages: the rest next poll")
        return sorted(found)

    def _download(self, key: str, spool: IO[bytes]) -> str:
        """The object's content key; its bytes into ``spool`` (left at the start)."""
        body = self._call("GetObject", self.s3.get_object, Bucket=self.bucket, Key=key)["Body"]
        digest = hashlib.sha256()
        try:
            for block in body.iter_chunks(chunk_size=BLOCK_BYTES):
                digest.update(block)
                spool.write(block)
        except (ReadTimeoutError, ConnectTimeoutError):
            raise BucketError(
                f"{self.where}: GetObject {key}: the body timed out after {self.timeout_s:g} s"
            ) from None
        except BotoCoreError as exc:  # cut off mid-body (IncompleteReadError, ResponseStreamingError)
            raise BucketError(f"{self.where}: GetObject {key}: {type(exc).__name__}") from None
        finally:
            body.close()
        spool.seek(0)
        return "sha256:" + digest.hexdigest()

    def read(self, warnings: list[str], counts: dict[str, int]) -> Iterator[Request]:
        """The requests of each new object, oldest key first, within the byte budget. Raises
        :class:`BucketError` when nothing could be read."""
        self._touched = []
        self.api_calls = 0
        progressed, fetched_bytes = False, 0  # repeats count in the budget too: they were fetched
        for key, size in self.list_new(warnings):
            if fetched_bytes >= self.budget_bytes:
                return
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_RAM_BYTES) as spool:
                try:
                    content_key = self._download(key, spool)
                except BucketError as exc:
                    if exc.code == "NoSuchKey":  # deleted since the listing (a lifecycle rule)
                        warnings.append(f"Logpush object {key} was deleted before it was read: skipped")
                        continue
                    if not progressed:
                        raise
                    warnings.append(f"{exc}: stopped there, the rest next poll")
                    return
                progressed = True
                fetched_bytes += size
                self.read_objects.add(key)
                if content_key in self.done_keys:
                    warnings.append(f"Logpush object {key} repeats an object already read: skipped")
                    # Its own row (keyed by its name), so a restart does not fetch it again.
                    name_key = "object:" + hashlib.sha256(key.encode()).hexdigest()
                    self._touched.append(FileCursor(name_key, f"s3://{self.bucket}/{key}", "", 0, done=True))
                    continue
                try:
                    yield from read_batch(spool, key.endswith(".gz"), counts)
                except (OSError, EOFError) as exc:  # a cut-off gzip (an aborted upload)
                    warnings.append(
                        f"Logpush object {key} is damaged ({type(exc).__name__}): read up to the damage"
                    )
            counts["bytes_read"] = counts.get("bytes_read", 0) + size
            self.done_keys.add(content_key)
            self._touched.append(FileCursor(content_key, f"s3://{self.bucket}/{key}", "", size, done=True))
