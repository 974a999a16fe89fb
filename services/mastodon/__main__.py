from services.platform.http import run_http_service

run_http_service("mastodon")
