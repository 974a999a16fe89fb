"""Chirp's gRPC services: one package per service plus the shared ``platform``."""
