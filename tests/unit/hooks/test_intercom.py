"""The Intercom hook: how it reads Intercom's errors and its connection's tokens, on a fake clock."""

import json

import pytest
from asapp_intercom.hooks.asapp import parse_asapp_error
from asapp_intercom.hooks.intercom import IntercomHook, access_tokens, parse_intercom_error

from tests.unit.hooks.fakes import (
    T0,
    FakeSession,
    intercom_error,
    rate_headers,
    response,
)


@pytest.mark.parametrize(
    ("password", "tokens"),
    [
        ("tok-one", ["tok-one"]),
        ("tok-one,tok-two", ["tok-one", "tok-two"]),
        (" tok-one , tok-two\ntok-three\n", ["tok-one", "tok-two", "tok-three"]),
        ("", []),
        (None, []),
    ],
)
def test_the_connection_password_holds_one_token_or_a_pool(password, tokens):
    assert access_tokens(password) == tokens


def test_a_token_pool_spreads_the_calls_over_its_apps(monkeypatch, clock):
    monkeypatch.setenv(
        "AIRFLOW_CONN_INTERCOM_POOL",
        json.dumps(
            {"conn_type": "intercom", "host": "https://api.intercom.test", "password": "tok-a, tok-b"}
        ),
    )
    api = IntercomHook("intercom_pool").api
    api.session = FakeSession(*[response(200, {}) for _ in range(4)])

    for _ in range(4):
        api.json("GET", "/admins")

    sent = [kwargs["headers"]["Authorization"] for _method, _url, kwargs in api.session.requests]
    assert sent == ["Bearer tok-a", "Bearer tok-b", "Bearer tok-a", "Bearer tok-b"]


def test_intercom_429_is_retried_when_the_window_resets(intercom_api, clock):
    intercom_api.session = FakeSession(
        response(
            429,
            intercom_error(429, "rate_limit_exceeded", "Exceeded rate limit of 100 in 10_seconds").json(),
            headers=rate_headers(limit=100, remaining=0, reset=T0 + 10),
        ),
        response(200, {"type": "admin"}, headers=rate_headers(limit=100, remaining=99, reset=T0 + 20)),
    )

    assert intercom_api.json("GET", "/me") == {"type": "admin"}
    assert clock.now == pytest.approx(T0 + 10, abs=0.1)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            {
                "type": "error.list",
                "request_id": "e097e446-9ae6-44a8-8e13-2bf3008b87ef",
                "errors": [{"code": "unauthorized", "message": "Access Token Invalid"}],
            },
            ("unauthorized", "Access Token Invalid", "e097e446-9ae6-44a8-8e13-2bf3008b87ef"),
        ),
        (
            429,
            {
                "type": "error.list",
                "request_id": "b68959ea-6328-4f70-83cb-e7913dba1542",
                "errors": [
                    {
                        "code": "rate_limit_exceeded",
                        "message": "Exceeded rate limit of 5 pending reporting dataset export jobs",
                    }
                ],
            },
            (
                "rate_limit_exceeded",
                "Exceeded rate limit of 5 pending reporting dataset export jobs",
                "b68959ea-6328-4f70-83cb-e7913dba1542",
            ),
        ),
        (
            404,
            {
                "type": "error.list",
                "request_id": None,
                "errors": [
                    {
                        "code": "conversation_attribute_not_found",
                        "message": "Conversation attribute not found",
                    }
                ],
            },
            ("conversation_attribute_not_found", "Conversation attribute not found", None),
        ),
        (
            409,
            {
                "type": "error.list",
                "request_id": "r-9",
                "errors": [
                    {
                        "code": "conflict",
                        "message": "A contact matching those details already exists with id=6657add46abd",
                    },
                    {"code": "second", "message": "ignored"},
                ],
            },
            ("conflict", "A contact matching those details already exists with id=6657add46abd", "r-9"),
        ),
        (
            400,
            {
                "type": "error.list",
                "request_id": "r-1",
                "errors": [{"code": "parameter_invalid", "field": "email"}],
            },
            ("parameter_invalid", "", "r-1"),
        ),
    ],
    ids=["401 from the spec", "429 from the spec", "null request id", "409 duplicate contact", "code only"],
)
def test_intercom_error_lists_are_read_for_status_code_message_and_request(status, body, expected):
    error = parse_intercom_error(response(status, body))
    assert (error.status, error.code, error.message, error.request_id) == (status, *expected)


@pytest.mark.parametrize(
    ("text", "reason", "message"),
    [
        (
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
            "Bad Gateway",
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        ),
        ("", "Bad Gateway", "Bad Gateway"),
        ('{"message": "upstream timeout"}', "Gateway Timeout", '{"message": "upstream timeout"}'),
        ('{"type": "error.list", "errors": []}', "Bad Request", '{"type": "error.list", "errors": []}'),
    ],
    ids=["html page", "empty body", "other json", "empty error list"],
)
def test_intercom_errors_that_are_not_error_lists_keep_the_text(text, reason, message):
    error = parse_intercom_error(response(502, text=text, reason=reason))
    assert (error.status, error.code, error.message, error.request_id) == (502, "http_error", message, None)


def test_a_long_non_json_error_body_is_cut_short():
    assert len(parse_intercom_error(response(500, text="x" * 5000)).message) == 300
    assert len(parse_asapp_error(response(500, text="x" * 5000)).message) == 300
