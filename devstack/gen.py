"""``make gen``: Python stubs (with ``.pyi``) into ``gen/``, Envoy's descriptor set, and the
OpenAPI document of the HTTP surface.

All outputs are committed; ``tests/unit/test_contracts.py`` and ``tests/unit/test_openapi.py``
regenerate into a temporary folder and fail when the committed files differ, so a proto change
without ``make gen`` cannot land.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from devstack.paths import CACHE, ROOT, VENV_BIN

PROTO_ROOT = ROOT / "proto"
THIRD_PARTY = ROOT / "third_party" / "googleapis"
GEN = ROOT / "gen"
DESCRIPTOR_SET = ROOT / "gateway" / "chirp.pb"
#: Not imported by Chirp's protos, but the gateway renders these ``google.rpc`` error details.
EXTRA_DESCRIPTOR_INPUTS = ("google/rpc/status.proto", "google/rpc/error_details.proto")
#: The gateway serves it at GET /openapi.json (gateway/envoy.yaml).
OPENAPI = ROOT / "gateway" / "openapi.json"
#: The gateway's check of request body fields: generated tables, then the hand-written check.
REQUEST_FIELDS = ROOT / "gateway" / "request_fields.lua"
REQUEST_CHECK = ROOT / "gateway" / "request_check.lua"
#: Built by ``make install`` (devstack/install.py, GO_TOOLS).
OPENAPI_PLUGIN = CACHE / "bin" / "protoc-gen-openapiv2"
BEARER = "bearer"


def chirp_protos() -> list[str]:
    return sorted(str(path.relative_to(PROTO_ROOT)) for path in PROTO_ROOT.rglob("*.proto"))


def _protoc(*args: str) -> None:
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc",
            f"-I{PROTO_ROOT}", f"-I{THIRD_PARTY}",
            f"--plugin=protoc-gen-mypy={VENV_BIN / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={VENV_BIN / 'protoc-gen-mypy_grpc'}",
            *args,
        ],
        check=True,
        cwd=ROOT,
    )  # fmt: skip


def generate(gen_dir: Path, descriptor_set: Path) -> None:
    """Writes the stubs under ``gen_dir`` and the descriptor set to ``descriptor_set``."""
    gen_dir.mkdir(parents=True, exist_ok=True)
    protos = chirp_protos()
    _protoc(
        f"--python_out={gen_dir}",
        f"--grpc_python_out={gen_dir}",
        f"--mypy_out={gen_dir}",
        f"--mypy_grpc_out={gen_dir}",
        *protos,
    )
    for module in gen_dir.rglob("*.py"):
        for package in module.relative_to(gen_dir).parents[:-1]:
            (gen_dir / package / "__init__.py").touch()
    _protoc(
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={descriptor_set}",
        *protos,
        *EXTRA_DESCRIPTOR_INPUTS,
    )


#: The operations that answer bytes (``google.api.HttpBody``), not JSON, and their types.
BINARY_RESPONSES = {
    "UsersService_ExportCurrentUser": ("application/zip",),
    "MediaService_GetMediaContent": (
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "video/mp4",
    ),
}


def needs_token(method: str, path: str) -> bool:
    """Whether the gateway refuses an operation without an access token: mutations (but for
    registering and logging in), the caller's own resources and the home timeline.

    gateway/envoy.yaml's ``jwt_authn`` rules say the same; tests/unit/test_openapi.py checks it.
    """
    if path == "/v1/users/me" or path.startswith(("/v1/users/me/", "/v1/timelines/")):
        return True
    if method == "get":
        return False
    return (method, path) not in {("post", "/v1/users"), ("post", "/v1/sessions")}


def generate_openapi(target: Path) -> None:
    """One OpenAPI 2 document for every annotated RPC, with the bearer token where needed."""
    protos = [proto for proto in chirp_protos() if not proto.startswith("chirp/events/")]
    # The plugin wants a Go package per file; any name does, nothing Go is generated.
    packages = ",".join(f"M{proto}=chirp/{Path(proto).parent}" for proto in protos)
    with tempfile.TemporaryDirectory() as scratch:
        _protoc(
            f"--plugin=protoc-gen-openapiv2={OPENAPI_PLUGIN}",
            f"--openapiv2_out={scratch}",
            f"--openapiv2_opt=allow_merge=true,allow_delete_body=true,merge_file_name=chirp,output_format=json,{packages}",
            *protos,
        )
        document = json.loads((Path(scratch) / "chirp.swagger.json").read_text())
    document["info"] = {
        "title": "Chirp API",
        "version": "v1",
        "description": (
            "HTTP/JSON through the gateway, transcoded to the gRPC services (proto3 JSON: "
            "lowerCamelCase fields, 64-bit ids as strings). Errors are google.rpc.Status "
            "bodies; 429 answers carry Retry-After. Limits: gateway/README.md."
        ),
    }
    document["securityDefinitions"] = {
        BEARER: {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Bearer <accessToken>`, the token POST /v1/sessions returns",
        }
    }
    _merge_dotted_path_parameters(document["paths"])
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if needs_token(method, path):
                operation["security"] = [{BEARER: []}]
            produced = BINARY_RESPONSES.get(operation["operationId"])
            if produced is not None:
                operation["produces"] = [*produced, "application/json"]  # errors are JSON
                operation["responses"]["200"]["schema"] = {"type": "file"}
    target.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _lua_pattern(template: str, *, capture: bool = False) -> str:
    """``/v1/tweets/{id}:like`` -> ``^/v1/tweets/[^/:]+:like$`` (``([^/:]+)`` to capture)."""
    parts = re.split(r"\{[^}]+\}", template)
    escaped = (re.sub(r"([\^$()%.\[\]*+\-?])", r"%\1", part) for part in parts)
    return "^" + ("([^/:]+)" if capture else "[^/:]+").join(escaped) + "$"


def _parameter_name(variable: str) -> str:
    """The name the API documents for a path variable: ``tweet_id`` -> ``tweetId``, and
    ``tweet.id`` (a field of the body message) -> ``id``."""
    first, *rest = variable.rsplit(".", 1)[-1].split("_")
    return first + "".join(word.capitalize() for word in rest)


def _templates(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> Iterator[str]:
    """The path template of every annotated RPC."""
    for file in files:
        for service in file.service:
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                pattern = rule.WhichOneof("pattern")
                if pattern is not None and pattern != "custom":
                    yield getattr(rule, pattern)


def _opaque(type_name: str) -> bool:
    """Well-known types have JSON forms of their own (a Timestamp is a string): not checked."""
    return type_name.startswith(".google.")


def _lua_table(entries: dict[str, str | bool]) -> str:
    return ", ".join(
        f'["{key}"] = ' + ("true" if value is True else f'"{value}"')
        for key, value in sorted(entries.items())
    )


def _json_bodies(
    files: Iterable[descriptor_pb2.FileDescriptorProto],
    messages: dict[str, descriptor_pb2.DescriptorProto],
) -> Iterator[tuple[str, str, str]]:
    """(HTTP method, path template, message of the JSON body) of every RPC that takes a body."""
    for file in files:
        for service in file.service:
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                pattern = rule.WhichOneof("pattern")
                if pattern is None or pattern == "custom" or not rule.body:
                    continue
                body = method.input_type
                if rule.body != "*":
                    (field,) = (f for f in messages[body].field if f.name == rule.body)
                    body = field.type_name
                if not _opaque(body):  # google.api.HttpBody is raw bytes, not JSON
                    yield pattern.upper(), getattr(rule, pattern), body


def generate_request_fields(target: Path) -> None:
    """gateway/request_fields.lua: the allowed field names of every JSON request body, and the
    names of every path's parameters."""
    with tempfile.TemporaryDirectory() as scratch:
        descriptor_set = Path(scratch) / "chirp.pb"
        _protoc("--include_imports", f"--descriptor_set_out={descriptor_set}", *chirp_protos())
        files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes()).file
    messages = {
        f".{file.package}.{message.name}": message
        for file in files
        for message in file.message_type
    }
    fields: dict[str, dict[str, str | bool]] = {}

    def walk(name: str) -> None:
        if name in fields or _opaque(name):
            return
        fields[name] = {}
        for field in messages[name].field:
            holds: str | bool = True
            nested = messages.get(field.type_name)
            if nested is not None and not nested.options.map_entry and not _opaque(field.type_name):
                holds = field.type_name
                walk(field.type_name)
            fields[name][field.json_name] = fields[name][field.name] = holds

    routes = [
        (method, _lua_pattern(template), body)
        for method, template, body in _json_bodies(files, messages)
    ]
    for _, _, body in routes:
        walk(body)
    parameters = {
        _lua_pattern(template, capture=True): [
            _parameter_name(v) for v in re.findall(r"\{([^}]+)\}", template)
        ]
        for template in _templates(files)
        if "{" in template
    }
    lines = [
        "-- Generated by `make gen` (devstack/gen.py) from proto/ and gateway/request_check.lua:",
        "-- do not edit. The tables are described in gateway/request_check.lua.",
        "MESSAGES = {",
        *(f'  ["{name}"] = {{{_lua_table(fields[name])}}},' for name in sorted(fields)),
        "}",
        "ROUTES = {",
        *(f'  {{"{m}", "{p}", "{b}"}},' for m, p, b in sorted(routes, key=lambda r: (r[1], r[0]))),
        "}",
        "PATH_PARAMETERS = {",
        *(
            f'  {{"{p}", {{{", ".join(map(json.dumps, names))}}}}},'
            for p, names in sorted(parameters.items())
        ),
        "}",
        "",
    ]
    target.write_text("\n".join(lines) + REQUEST_CHECK.read_text())


def _merge_dotted_path_parameters(paths: dict[str, Any]) -> None:
    """``/v1/tweets/{tweet.id}`` is the URL ``/v1/tweets/{id}`` (UpdateTweet binds the path to a
    field of its body message): OpenAPI forbids two templates of one URL, and tools choke on the
    dot, so its operations join the existing path under that path's parameter name."""
    shape = {re.sub(r"\{[^}]+\}", "{}", path): path for path in paths if "." not in path}
    for dotted in [path for path in paths if re.search(r"\{[^}.]+\.[^}]+\}", path)]:
        target = shape.get(re.sub(r"\{[^}]+\}", "{}", dotted))
        if target is None:
            continue
        renames = dict(
            zip(re.findall(r"\{([^}]+)\}", dotted), re.findall(r"\{([^}]+)\}", target), strict=True)
        )
        for method, operation in paths.pop(dotted).items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    parameter["name"] = renames[parameter["name"]]
            paths[target][method] = operation


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "gen"
        generate(fresh, Path(scratch) / "chirp.pb")
        generate_openapi(Path(scratch) / "openapi.json")
        generate_request_fields(Path(scratch) / "request_fields.lua")
        shutil.rmtree(GEN, ignore_errors=True)
        shutil.copytree(fresh, GEN)
        shutil.copyfile(Path(scratch) / "chirp.pb", DESCRIPTOR_SET)
        shutil.copyfile(Path(scratch) / "openapi.json", OPENAPI)
        shutil.copyfile(Path(scratch) / "request_fields.lua", REQUEST_FIELDS)
    outputs = ", ".join(
        [
            f"{GEN.relative_to(ROOT)}/",
            *(str(p.relative_to(ROOT)) for p in (DESCRIPTOR_SET, OPENAPI, REQUEST_FIELDS)),
        ]
    )
    print(f"[gen] {len(chirp_protos())} protos -> {outputs}")


if __name__ == "__main__":
    main()
