"""Traces through the real stack: a post through the gateway is one trace in Jaeger, from Envoy
through the tweets service to Cassandra and the JetStream publish; the fanout that consumed its
event is a trace of its own that links to it, with its Redis writes; a home read's trace shows
each hop it crossed, and its trace id is on the services' log lines."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import httpx

from devstack.monitoring import JAEGER_UI_PORT
from devstack.paths import DATA
from tests.e2e.edge import register
from tests.polling import polled

JAEGER = f"http://127.0.0.1:{JAEGER_UI_PORT}"
#: Spans reach Jaeger in the exporters' batches (every 5 s at most in the services).
WAIT_SECONDS = 60.0


def jaeger(path: str, **query: str) -> Any:
    url = f"{JAEGER}/api/{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (the local Jaeger)
            return json.load(response)
    except urllib.error.HTTPError as error:
        if error.code == 404:  # a trace not there yet
            return {"data": []}
        raise


def _spans(trace: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(service, operation, tags) of each span of a Jaeger trace."""
    processes = trace["processes"]
    return [
        (
            processes[span["processID"]]["serviceName"],
            span["operationName"],
            {tag["key"]: tag["value"] for tag in span["tags"]},
        )
        for span in trace["spans"]
    ]


def _has_the_post_path(spans: list[tuple[str, str, dict[str, Any]]]) -> bool:
    seen = {(service, operation) for service, operation, _ in spans}
    return (
        any(service == "envoy" for service, _ in seen)
        and ("tweets", "chirp.tweets.v1.TweetsService/CreateTweet") in seen
        and any(
            service == "tweets" and tags.get("db.system") == "cassandra"
            for service, _, tags in spans
        )
        and ("tweets", "publish tweets.created") in seen
    )


def test_a_post_is_one_trace_from_the_gateway_to_its_event_and_its_fanout_links_to_it(
    client: httpx.Client,
) -> None:
    author = register(client, "tr")
    trace_id = secrets.token_hex(16)
    posted = client.post(
        "/v1/tweets",
        json={"text": "traced from the gateway on"},
        headers={
            "authorization": f"Bearer {author.token}",
            "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
        },
    )
    assert posted.status_code == 200, posted.text

    (trace,) = polled(
        lambda: jaeger(f"traces/{trace_id}")["data"],
        lambda found: len(found) == 1 and _has_the_post_path(_spans(found[0])),
        f"trace {trace_id} with Envoy, CreateTweet, Cassandra and the publish",
        WAIT_SECONDS,
    )
    assert {span["traceID"] for span in trace["spans"]} == {trace_id}

    def linked_fanouts() -> list[dict[str, Any]]:
        traces = jaeger(
            "traces", service="timelines", operation="consume timelines-fanout", lookback="1h"
        )["data"]
        return [
            found
            for found in traces
            if found["traceID"] != trace_id
            and any(
                reference["traceID"] == trace_id
                for span in found["spans"]
                for reference in span.get("references", [])
            )
        ]

    fanouts = polled(linked_fanouts, bool, "a fanout trace linked to the post's", WAIT_SECONDS)
    # ...holding the fanout's Redis writes (the author's own home timeline, at least)
    assert any(
        service == "timelines" and tags.get("db.system") == "redis"
        for fanout in fanouts
        for service, _, tags in _spans(fanout)
    )


def test_a_trace_id_in_a_log_line_finds_the_trace(client: httpx.Client) -> None:
    reader = register(client, "tl")
    trace_id = secrets.token_hex(16)
    answered = client.get(
        "/v1/timelines/home",
        headers={
            "authorization": f"Bearer {reader.token}",
            "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
        },
    )
    assert answered.status_code == 200, answered.text

    def logged() -> list[dict[str, Any]]:
        """The lines with the trace id in the logs of every timelines process."""
        lines = [
            line
            for log in sorted((DATA / "logs").glob("timelines*.log"))
            for line in log.read_text(errors="replace").splitlines()
        ]
        return [json.loads(line) for line in lines if trace_id in line and line.startswith("{")]

    (line,) = polled(logged, bool, "the timelines service's line for the request", WAIT_SECONDS)
    assert line["trace_id"] == trace_id
    assert line["rpc"] == "chirp.timelines.v1.TimelinesService/ListHomeTimeline"
    assert line["request_id"]

    # The trace shows each hop the read crossed: the gateway, the timelines service, Redis.
    def hops() -> set[tuple[str, str]]:
        found = jaeger(f"traces/{line['trace_id']}")["data"]
        return {
            (service, "redis" if tags.get("db.system") == "redis" else operation)
            for trace in found
            for service, operation, tags in _spans(trace)
        }

    wanted = {("timelines", "chirp.timelines.v1.TimelinesService/ListHomeTimeline")}
    # Each process sends its spans in its own batches: wait for all three hops.
    polled(
        hops,
        lambda found: (
            wanted <= found
            and ("timelines", "redis") in found
            and any(service == "envoy" for service, _ in found)
        ),
        f"trace {trace_id} in Jaeger with Envoy's, timelines' and Redis's spans",
        WAIT_SECONDS,
    )
