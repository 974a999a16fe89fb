"""Composition root of the timelines service: adapters are connected here and nowhere else."""

from chirp.timelines.v1 import timelines_service_pb2

from services.bootstrap.server import unimplemented_wiring

# Every RPC answers UNIMPLEMENTED until home timelines and fanout land (issue #5).
wiring = unimplemented_wiring(timelines_service_pb2.DESCRIPTOR.services_by_name["TimelinesService"])
