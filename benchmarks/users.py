"""GetUser on the real users service next to the no-op baseline measured in the same run: a
signed-in reader looking at profiles (counts and the relationship to the reader included), one
token per request round-robin over many readers, each looking at the dataset's most followed
account (a profile everyone looks at) or at an account of the long tail."""

from __future__ import annotations

from benchmarks import common
from benchmarks.common import Options, Scenario
from benchmarks.dataset import Dataset
from benchmarks.report import Report
from services.platform.settings import GRPC_PORTS

USERS = f"127.0.0.1:{GRPC_PORTS['users']}"
SERVICE = "chirp.users.v1.UsersService"
READERS = 200


def scenarios(data: Dataset) -> list[Scenario]:
    return [
        Scenario(
            "GetUser most followed", f"{SERVICE}/GetUser", {"username": data.most_followed()[1]}
        ),
        Scenario(
            "GetUser less followed",
            f"{SERVICE}/GetUser",
            {"username": data.accounts[len(data.accounts) // 2][1]},
        ),
    ]


def run(options: Options, data: Dataset, report: Report) -> None:
    readers = common.round_robin([data.token(account) for account in data.accounts[-READERS:]])
    with common.baseline_server() as baseline:
        sides = common.Sides(("users", USERS), baseline, readers)
        report.add(common.measure("users", scenarios(data), sides, options.load))
