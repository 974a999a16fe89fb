"""Composition root of the media service: adapters are connected here and nowhere else."""

from chirp.media.v1 import media_service_pb2

from services.bootstrap.server import unimplemented_wiring

# Every RPC answers UNIMPLEMENTED until photo uploads land (issue #8).
wiring = unimplemented_wiring(media_service_pb2.DESCRIPTOR.services_by_name["MediaService"])
