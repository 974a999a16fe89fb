from services.bootstrap.server import run_service

run_service("media")
