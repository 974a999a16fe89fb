"""What `make gen` writes for the gateway: the OpenAPI document (fresh, complete, and in agreement
with the gateway on who needs a token) and the table of request body fields."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from devstack.envoy import SOURCE_CONFIG, gateway_manager
from devstack.gen import (
    BEARER,
    OPENAPI,
    REQUEST_FIELDS,
    generate_openapi,
    generate_request_fields,
    needs_token,
)
from tests.unit.test_contracts import _http_rules

METHODS = ("get", "post", "patch", "delete", "put")


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OPENAPI.read_text())
    return document


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in _document()["paths"].items()
        for method, operation in operations.items()
        if method in METHODS
    ]


def test_the_committed_document_is_fresh(tmp_path: Path) -> None:
    generate_openapi(tmp_path / "openapi.json")
    assert (tmp_path / "openapi.json").read_text() == OPENAPI.read_text(), (
        "gateway/openapi.json is stale: run `make gen`"
    )


def test_the_committed_request_fields_are_fresh(tmp_path: Path) -> None:
    generate_request_fields(tmp_path / "request_fields.lua")
    assert (tmp_path / "request_fields.lua").read_text() == REQUEST_FIELDS.read_text(), (
        "gateway/request_fields.lua is stale: run `make gen`"
    )


def test_every_json_body_route_has_its_fields() -> None:
    table = REQUEST_FIELDS.read_text()
    for method, path, operation in _operations():
        takes_json = any(
            parameter["in"] == "body" and "HttpBody" not in json.dumps(parameter["schema"])
            for parameter in operation.get("parameters", [])
        )
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/:]+", path) + "$"
        assert (f'{{"{method.upper()}", "{pattern}", ' in table) == takes_json, (method, path)


def test_every_annotated_rpc_is_an_operation() -> None:
    elided = {
        (method.upper(), re.sub(r"\{[^}]+\}", "*", path)) for method, path, _ in _operations()
    }
    assert elided == _http_rules()


def _jwt_requirement(method: str, path: str) -> str:
    """What gateway/envoy.yaml's jwt_authn asks of a request: 'required', 'optional' or 'none'."""
    (jwt_filter,) = (
        f for f in gateway_manager(_envoy())["http_filters"] if f["name"].endswith("jwt_authn")
    )
    for rule in jwt_filter["typed_config"]["rules"]:
        match = rule["match"]
        if "path" in match and match["path"] != path:
            continue
        if "prefix" in match and not path.startswith(match["prefix"]):
            continue
        if "safe_regex" in match and not re.fullmatch(match["safe_regex"]["regex"], path):
            continue
        methods = [h["string_match"]["exact"] for h in match.get("headers", [])]
        if methods and methods != [method.upper()]:
            continue
        return "required" if "provider_name" in rule["requires"] else "optional"
    return "none"


def _envoy() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(SOURCE_CONFIG.read_text())
    return config


def test_the_document_and_the_gateway_agree_on_which_operations_need_a_token() -> None:
    for method, path, operation in _operations():
        concrete = re.sub(r"\{[^}]+\}", "ada", path)
        required = _jwt_requirement(method, concrete)
        assert required != "none", f"{method} {path} is not covered by jwt_authn"
        assert (required == "required") == needs_token(method, path), (method, path)
        assert (operation.get("security") == [{BEARER: []}]) == needs_token(method, path)


def test_only_registering_logging_in_and_reads_go_without_a_token() -> None:
    anonymous = {
        (method, path) for method, path, _ in _operations() if not needs_token(method, path)
    }
    assert {(m, p) for m, p in anonymous if m != "get"} == {
        ("post", "/v1/users"),
        ("post", "/v1/sessions"),
    }
    assert ("get", "/v1/users/me") not in anonymous
    assert ("get", "/v1/timelines/home") not in anonymous
