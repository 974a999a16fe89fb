"""Hostile bytes in every parameter of the HTTP surface, beyond what schemathesis generates.

For every path and query parameter of the OpenAPI document: bytes that are not UTF-8, overlong
encodings, lone surrogates, NUL, an encoded "/", a very long value and a repeated parameter; for
every JSON body: the same in every string field, deep nesting, a field given twice, numbers out
of range. Nothing may be a 5xx, quote an exception's class, or echo a password; a string that is
not UTF-8 is 400 naming its parameter. The same malformed bytes sent straight to a service's
gRPC port are INVALID_ARGUMENT naming the field (tests/integration/test_malformed_requests.py).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.edge import register
from tests.integration.graph.support import Account

OPENAPI = json.loads((Path(__file__).parents[2] / "gateway" / "openapi.json").read_text())
#: Percent-encoded values that are not UTF-8: a stray byte, a cut sequence, an overlong "/",
#: a lone surrogate (U+D800 in UTF-8 form), a code point past U+10FFFF.
NOT_UTF8 = ["%ff", "%00%ff", "%c3%28", "%c0%af", "%ed%a0%80", "%f4%90%80%80"]
#: Values that are UTF-8 but hostile: NUL, an encoded "/", a very long value.
ODD = ["a%00b", "a%2Fb", "x" * 8000]
SECRET = "hunter2-secret"  # noqa: S105  (the password that must never be echoed)
LEAKS = re.compile(r"class '|DecodeError|Traceback|Unexpected <|hunter2")


@pytest.fixture(scope="module")
def account(client: httpx.Client) -> Account:
    return register(client, "h")


@pytest.fixture(scope="module")
def tweet_id(client: httpx.Client, account: Account) -> str:
    posted = client.post("/v1/tweets", json={"text": "hostile"}, headers=account.headers)
    assert posted.status_code == 200, posted.text
    return str(posted.json()["id"])


def _operations() -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            if path.endswith(":stream"):
                continue  # a long-lived stream: its one parameter is checked in the list below
            yield method.upper(), path, operation.get("parameters", [])


def _url(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], path)


def _sane(response: httpx.Response, what: str) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text)
    assert not LEAKS.search(response.text), (what, response.text)


def test_every_path_and_query_parameter_refuses_bytes_that_are_not_utf8(
    client: httpx.Client, account: Account, tweet_id: str
) -> None:
    good = {"username": account.username, "id": tweet_id, "tweetId": tweet_id}
    checked = 0
    for method, path, parameters in _operations():
        for parameter in parameters:
            name, where = parameter["name"], parameter["in"]
            if where not in {"path", "query"}:
                continue
            for value in NOT_UTF8:
                if where == "path":
                    url = _url(path, {**good, name: f"a{value}"})
                else:
                    url = f"{_url(path, good)}?{name}=a{value}"
                response = client.request(method, url, headers=account.headers)
                what = f"{method} {url}"
                _sane(response, what)
                assert response.status_code == 400, (what, response.text)
                says = f'"{name}" must be valid UTF-8'
                if where == "path" and "%00" in value:
                    says = "the path must not contain a NUL byte"  # Envoy's own refusal
                assert says in response.json()["message"], (what, response.text)
                checked += 1
    assert checked > 100


def test_hostile_but_valid_values_and_repeated_parameters_are_never_a_5xx(
    client: httpx.Client, account: Account, tweet_id: str
) -> None:
    good = {"username": account.username, "id": tweet_id, "tweetId": tweet_id}
    for method, path, parameters in _operations():
        if method != "GET":
            continue  # no hostile follows, likes or deletes of the shared account's data
        for parameter in parameters:
            name, where = parameter["name"], parameter["in"]
            if where == "path":
                urls = [_url(path, {**good, name: value}) for value in ODD]
            elif where == "query":
                base = _url(path, good)
                urls = [f"{base}?{name}={value}" for value in ODD]
                urls.append(f"{base}?{name}=1&{name}=2")
            else:
                continue
            for url in urls:
                _sane(client.request(method, url, headers=account.headers), f"{method} {url}")


def _string_fields(schema: dict[str, Any]) -> list[str]:
    if "$ref" in schema:
        schema = OPENAPI["definitions"][schema["$ref"].rsplit("/", 1)[-1]]
    return [
        name
        for name, field in schema.get("properties", {}).items()
        if field.get("type") == "string" and not field.get("readOnly")
    ]


#: Raw JSON string contents (between the quotes) that must be refused: bytes that are not UTF-8,
#: and escapes of lone surrogates.
BAD_STRINGS = [b"a\xffb", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\\ud800", b"\\udc00x"]


def _body_routes(tweet_id: str) -> Iterator[tuple[str, str, list[str]]]:
    for method, path, parameters in _operations():
        for parameter in parameters:
            raw = parameter.get("schema", {}).get("$ref", "").endswith("HttpBody")
            if parameter["in"] == "body" and "schema" in parameter and not raw:
                fields = _string_fields(parameter["schema"])
                if fields:
                    yield method, _url(path, {"id": tweet_id, "username": "nobody"}), fields


JSON = {"content-type": "application/json"}


def _body_with(fields: list[str], bad_field: str, bad: bytes) -> bytes:
    """A JSON object of ``fields``, all "fine" but ``bad_field``: the secret, then ``bad``."""
    values = {
        f: b'"' + SECRET.encode() + bad + b'"' if f == bad_field else b'"fine"' for f in fields
    }
    return b"{" + b", ".join(json.dumps(f).encode() + b": " + v for f, v in values.items()) + b"}"


def test_every_string_field_of_every_body_refuses_what_is_not_utf8_without_echoing_it(
    client: httpx.Client, account: Account, tweet_id: str
) -> None:
    checked = 0
    for method, url, fields in _body_routes(tweet_id):
        for field in fields:
            for bad in BAD_STRINGS:
                raw = _body_with(fields, field, bad)
                response = client.request(
                    method, url, content=raw, headers={**account.headers, **JSON}
                )
                what = f"{method} {url} {field}={bad!r}"
                _sane(response, what)
                assert response.status_code == 400, (what, response.text)
                assert f'field "{field}"' in response.json()["message"], (what, response.text)
                checked += 1
    assert checked > 20


LOGIN = b'{"username": "a", "password": "' + SECRET.encode()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (LOGIN + b'", "username": "b"}', 'field "username" is given twice'),
        (LOGIN, "not valid JSON (at byte"),
        (b'{"password": "' + SECRET.encode() + b'", "username": tru}', "not valid JSON (at byte"),
        (b'{"username": ' + b"[" * 100 + b"]" * 100 + b"}", "nests deeper than 32 levels"),
        (b'["' + SECRET.encode() + b'"]', "must be a JSON object"),
        (LOGIN + b'\x01"}', "must escape control characters"),
    ],
)
def test_malformed_bodies_are_400_saying_why_and_never_quote_the_body(
    client: httpx.Client, raw: bytes, says: str
) -> None:
    response = client.post("/v1/sessions", content=raw, headers=JSON)
    _sane(response, repr(raw))
    assert response.status_code == 400, response.text
    assert says in response.json()["message"]


def test_numbers_out_of_range_are_400_not_5xx(client: httpx.Client, account: Account) -> None:
    for value in ["1e400", "18446744073709551616", "99999999999999999999999999", "1.5", "-1"]:
        raw = f'{{"text": "range {uuid.uuid4().hex[:6]}", "replyToId": {value}}}'.encode()
        response = client.post("/v1/tweets", content=raw, headers={**account.headers, **JSON})
        _sane(response, value)
        # -1 fits an int64: no tweet has that id (404); the others do not fit.
        assert response.status_code == (404 if value == "-1" else 400), (value, response.text)
