"""ASAPP's REST APIs (File Exporter, configuration, real-time events) through an `asapp` connection.

Connection: host = API base URL (https://api.asapp.com), login = API Id, password = API Secret,
sent as ASAPP's `asapp-api-id` / `asapp-api-secret` headers. Signed download URLs are fetched
with a bare session, so those headers never reach a storage host.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import IO, Any, Protocol

import httpx
import requests
from airflow.providers.http.hooks.http import HttpHook

from asapp_intercom.hooks.api import ApiError, ApiSession, RetryPolicy, SteadyPace
from asapp_intercom.provider import ASAPP_FORM

RETRY = RetryPolicy(rate_limited=(1, 2, 4), server_error=(0.25, 0.5, 1.0, 2.0), attempts=6)
"""ASAPP's documented backoff: 1/2/4 s after a 429, 250/500/1000 ms after a 5xx."""

PACE_PER_SECOND = 20
"""ASAPP arrests spikes above 100 requests/s per product; its guidance is to stay near 20."""

DAILY_CAP_CODE = "429-02"
FINAL_CODES = {DAILY_CAP_CODE, "401-01", "401-02", "403-01"}


class DailyCapReached(ApiError):
    """ASAPP answers 429 for the rest of the UTC day once the daily cap is spent."""

    @property
    def resets_at(self) -> datetime:
        if self.retry_after is not None:
            return datetime.now(UTC) + timedelta(seconds=float(self.retry_after))
        tomorrow = datetime.now(UTC).date() + timedelta(days=1)
        return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC)


def parse_asapp_error(response: requests.Response | httpx.Response) -> ApiError:
    """ASAPP errors look like {"error": {"requestId", "message", "code": "<HTTP>-<NN>"}}."""
    try:
        error = response.json()["error"]
        code, message, request_id = error["code"], error.get("message", ""), error.get("requestId")
    except (ValueError, KeyError, TypeError):
        reason = getattr(response, "reason", None) or getattr(response, "reason_phrase", "")
        code, message, request_id = f"{response.status_code}", response.text[:300] or reason, None
    kind = DailyCapReached if code == DAILY_CAP_CODE else ApiError
    return kind(response.status_code, code, message, request_id, response.headers.get("Retry-After"))


def refused_download(response: requests.Response) -> ApiError:
    """A storage host's error body can quote request signatures and key ids: keep only the status."""
    return ApiError(
        response.status_code, f"download-{response.status_code}", "the signed download URL was refused"
    )


class DailyCapMemo(Protocol):
    """Where the tasks of a migration remember that ASAPP's daily cap is spent, so that none of them calls
    ASAPP again before it resets (ASAPP warns that calling on can get the keys revoked)."""

    def spent_until(self) -> datetime | None: ...

    def note_spent(self, resets_at: datetime) -> None: ...


class AsappHook(HttpHook):
    conn_name_attr = "asapp_conn_id"
    default_conn_name = "asapp_default"
    conn_type = "asapp"
    hook_name = "ASAPP"
    default_host = "https://api.asapp.com"

    def __init__(self, asapp_conn_id: str = default_conn_name, daily_cap: DailyCapMemo | None = None):
        super().__init__(method="POST", http_conn_id=asapp_conn_id)
        self.daily_cap = daily_cap

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return ASAPP_FORM

    def _configure_session_from_auth(self, session: requests.Session, connection) -> requests.Session:
        if not (connection.login and connection.password):
            raise ValueError(
                f"Connection {self.http_conn_id!r} needs the API Id (login) and API Secret (password)"
            )
        session.auth = None
        session.headers.update({"asapp-api-id": connection.login, "asapp-api-secret": connection.password})
        return session

    @cached_property
    def api(self) -> ApiSession:
        return ApiSession(
            self.get_conn(),
            self.base_url,
            retry=RETRY,
            parse_error=parse_asapp_error,
            is_final=lambda error: error.code in FINAL_CODES,
            limiter=SteadyPace(PACE_PER_SECOND),
        )

    @cached_property
    def downloads(self) -> ApiSession:
        return ApiSession(
            requests.Session(),
            "",
            retry=RETRY,
            parse_error=refused_download,
            is_final=lambda error: error.status == 403,
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call to ASAPP's APIs, never made while the daily cap is known to be spent."""
        if (
            self.daily_cap is not None
            and (until := self.daily_cap.spent_until())
            and until > datetime.now(UTC)
        ):
            raise DailyCapReached(
                429,
                DAILY_CAP_CODE,
                "Daily limit exceeded (noted by an earlier call; not asked again)",
                retry_after=(until - datetime.now(UTC)).total_seconds(),
            )
        try:
            return self.api.json(method, path, **kwargs)
        except DailyCapReached as cap:
            if self.daily_cap is not None:
                self.daily_cap.note_spent(cap.resets_at)
            raise

    # File Exporter -------------------------------------------------------------------------
    def file_exporter(self, endpoint: str, **body: Any) -> dict:
        return self._call("POST", f"/fileexporter/v1/static/{endpoint}", json=body)

    def list_feed_dates(self, feed: str, version: str = "1", fmt: str = "jsonl") -> list[str]:
        return self.file_exporter("listfeeddates", feed=feed, version=version, format=fmt)["dates"]

    def list_feed_intervals(self, feed: str, date: str, version: str = "1", fmt: str = "jsonl") -> list[str]:
        answer = self.file_exporter("listfeedintervals", feed=feed, version=version, format=fmt, date=date)
        return answer["intervals"]

    def list_feed_files(
        self, feed: str, date: str, interval: str, version: str = "1", fmt: str = "jsonl"
    ) -> list[str]:
        answer = self.file_exporter(
            "listfeedfiles", feed=feed, version=version, format=fmt, date=date, interval=interval
        )
        return answer["files"]

    def feed_file_url(
        self, feed: str, date: str, interval: str, file_name: str, version: str = "1", fmt: str = "jsonl"
    ) -> str:
        return self.file_exporter(
            "getfeedfile",
            feed=feed,
            version=version,
            format=fmt,
            date=date,
            interval=interval,
            fileName=file_name,
        )["url"]

    def attachment_url(self, file_upload_event_id: str) -> dict:
        """{fileUploadEventId, fileName, mimeType, url} for an attachment's binary."""
        return self.file_exporter("getattachmentfile", fileUploadEventId=file_upload_event_id)

    @contextmanager
    def open_url(self, url: str) -> Iterator[IO[bytes]]:
        """Stream a signed URL's body (the file as stored) without holding it in memory."""
        response = self.downloads.request("GET", url, stream=True)
        try:
            response.raw.decode_content = True
            yield response.raw
        finally:
            response.close()

    def download(self, url: str) -> bytes:
        return self.downloads.request("GET", url).content

    # Configuration API ---------------------------------------------------------------------
    def paginate_configuration(self, resource: str, key: str) -> Iterator[dict]:
        """Follow nextCursor through /configuration/v1/{resource}."""
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = self._call("GET", f"/configuration/v1/{resource}", params=params)
            yield from page.get(key, [])
            cursor = page.get("nextCursor")
            if not cursor:
                return
            params["cursor"] = cursor

    def structured_data_fields(self) -> list[dict]:
        return list(self.paginate_configuration("structured-data-fields", "structuredDataFields"))

    def segments(self) -> list[dict]:
        return list(self.paginate_configuration("segments", "segments"))

    def redaction_entities(self) -> list[dict]:
        return list(self.paginate_configuration("redaction-entities", "redactionEntities"))

    def custom_vocabularies(self) -> list[dict]:
        return list(self.paginate_configuration("custom-vocabularies", "customVocabularies"))

    # Real-time events ----------------------------------------------------------------------
    def pull_events(self, cursor: str | None, feed: str = "all", limit: int = 500) -> dict:
        """One page of the event stream: {events, nextCursor, hasMore}; 410 when the cursor expired."""
        params = {"feed": feed, "limit": limit, **({"cursor": cursor} if cursor else {})}
        return self._call("GET", "/realtime/v1/events", params=params)

    async def apeek_events(self, cursor: str | None, feed: str = "all") -> dict:
        """The next page of the event stream, asynchronously, for the trigger (it stores nothing)."""
        connection = await self.aget_connection(self.http_conn_id)
        self._set_base_url(connection)
        headers = {"asapp-api-id": connection.login or "", "asapp-api-secret": connection.password or ""}
        params = {"feed": feed, "limit": 1, **({"cursor": cursor} if cursor else {})}
        async with httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30) as client:
            response = await client.get("/realtime/v1/events", params=params)
        if response.status_code >= 400:
            raise parse_asapp_error(response)
        return response.json()

    def test_connection(self) -> tuple[bool, str]:
        try:
            feeds = self.file_exporter("listfeeds")["feeds"]
        except (ApiError, ValueError) as error:
            return False, str(error)
        return True, f"Connected; {len(feeds)} feeds available through File Exporter"


def refuses_the_request(error: ApiError) -> bool:
    """Whether ASAPP refused one request for what it asked (an unknown file, a bad argument): report it
    and go on. An outage, a lost connection, throttling, the daily cap or revoked keys end the task."""
    return 400 <= error.status < 500 and error.status not in {401, 403, 429}
