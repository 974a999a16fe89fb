"""Composition root of the users service: adapters are connected here and nowhere else."""

from chirp.users.v1 import users_service_pb2

from services.bootstrap.server import unimplemented_wiring

# Every RPC answers UNIMPLEMENTED until accounts, sessions and profiles land (issue #3).
wiring = unimplemented_wiring(users_service_pb2.DESCRIPTOR.services_by_name["UsersService"])
