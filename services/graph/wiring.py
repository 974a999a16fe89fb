"""Composition root of the graph service: adapters are connected here and nowhere else."""

from chirp.graph.v1 import graph_service_pb2

from services.bootstrap.server import unimplemented_wiring

# Every RPC answers UNIMPLEMENTED until the social graph on Neo4j land (issue #4).
wiring = unimplemented_wiring(graph_service_pb2.DESCRIPTOR.services_by_name["GraphService"])
