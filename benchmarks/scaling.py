"""Each service with one and with two worker processes (``CHIRP_WORKERS``; the workers share the
port with SO_REUSEPORT): a separate instance of the service on a free port, with the local
stack's environment for that service (so it behaves as the running one and talks to the same
stores), measured with ghz on a representative RPC at twice the usual concurrency (enough to
keep two workers busy); the running stack is left alone.

Not measured: search (a second instance would open the same Tantivy index directory as the
running one) and media (its representative read needs uploaded media; its work is the object
store's)."""

from __future__ import annotations

from benchmarks import common, ghz
from benchmarks.common import Options, Row, Scenario
from benchmarks.dataset import Dataset
from benchmarks.report import Report
from devstack.components import by_name
from devstack.paths import DATA

WORKERS = (1, 2)


def scenarios(data: Dataset) -> dict[str, Scenario]:
    """The service each scenario runs on, and the representative RPC."""
    return {
        "users": Scenario(
            "users GetUser",
            "chirp.users.v1.UsersService/GetUser",
            {"username": data.most_followed()[1]},
        ),
        "tweets": Scenario(
            "tweets GetTweet",
            "chirp.tweets.v1.TweetsService/GetTweet",
            {"id": str(data.tweet_ids[-1])},
        ),
        "graph": Scenario(
            "graph ListFollowers x20",
            "chirp.graph.v1.GraphService/ListFollowers",
            {"username": data.most_followed()[1], "page_size": 20},
        ),
        "timelines": Scenario(
            "timelines ListHomeTimeline push x20",
            "chirp.timelines.v1.TimelinesService/ListHomeTimeline",
            {"page_size": 20},
        ),
    }


def measure(service: str, scenario: Scenario, workers: int, load: ghz.Load, token: str) -> Row:
    port, metrics = common.free_port(), common.free_port()
    (component,) = by_name([service])
    env = {
        **component.env,
        "CHIRP_DATA_DIR": str(DATA),
        "CHIRP_GRPC_PORT": str(port),
        "CHIRP_METRICS_PORT": str(metrics),
        "CHIRP_WORKERS": str(workers),
        "CHIRP_LOG_LEVEL": "warning",
    }
    with common.server(["-m", f"services.{service}"], env, f"127.0.0.1:{port}") as served:
        result = ghz.run(
            served.address, scenario.method, scenario.data, load, metadata=common.bearer(token)
        )
    target = "baseline" if workers == 1 else f"{service}, {workers} workers"
    return Row("scaling", scenario.name, target, result, baseline="same RPC, 1 worker")


def run(options: Options, data: Dataset, report: Report) -> None:
    load = ghz.Load(options.concurrency * 2, options.seconds)
    token = data.token(data.push_reader)
    for service, scenario in scenarios(data).items():
        report.add([measure(service, scenario, workers, load, token) for workers in WORKERS])
