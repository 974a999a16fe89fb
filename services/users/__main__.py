from services.platform.server import run_service

run_service("users")
