"""Composition root of the search service: adapters are connected here and nowhere else."""

from chirp.search.v1 import search_service_pb2

from services.bootstrap.server import unimplemented_wiring

# Every RPC answers UNIMPLEMENTED until search and trends on Tantivy land (issue #6).
wiring = unimplemented_wiring(search_service_pb2.DESCRIPTOR.services_by_name["SearchService"])
