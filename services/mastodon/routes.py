"""The Mastodon client API over HTTP (aiohttp): requests in, Chirp calls, Mastodon JSON out.

Parameters come as the clients send them, in any mix: a query string, a form, multipart or
JSON, arrays as repeated ``key[]`` (or a bare ``key``), booleans as ``true``/``1``/``True``;
unknown parameters are ignored, as Mastodon does. Every route answers with or without a
trailing slash. Errors are ``{"error": ...}`` with Mastodon's codes (``_errors``).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web
from chirp.media.v1 import media_pb2
from chirp.search.v1 import trend_pb2
from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2

from services.mastodon import entities, streaming
from services.mastodon.entities import Json, Site
from services.mastodon.model import KNOWN_SCOPES, Issued
from services.mastodon.ports import Chirp
from services.mastodon.service import (
    OUT_OF_BAND,
    Authorization,
    Caller,
    OAuthError,
    OAuthService,
    covers,
    digest,
)
from services.platform.errors import (
    AlreadyExists,
    ChirpError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from services.platform.healthcheck import HEALTH_PATH
from services.platform.http import Handler
from services.platform.paging import HOME_TIMELINE, PUBLIC_TIMELINE, USER_TWEETS, encode_token
from services.platform.ratelimit import RedisRateLimiter
from services.platform.usernames import is_username

log = structlog.get_logger()

_FALSE = frozenset({"", "0", "f", "false", "off", "no"})
#: Pages read at most to answer a ``since_id``/``min_id`` (newer than) request, or a
#: ``max_id`` on a list that cannot start at an id.
WALKED_PAGES = 5
_ID = re.compile(r"[0-9]{1,19}")


class ApiError(Exception):
    """A refusal in Mastodon's words: ``{"error": message}`` with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Params:
    """Every parameter of a request, by name (``key[]`` as ``key``), each with all its values."""

    values: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        self.values.setdefault(name.removesuffix("[]"), []).append(value)

    def get(self, name: str, default: str = "") -> str:
        found = self.values.get(name)
        return found[0] if found else default

    def optional(self, name: str) -> str | None:
        """The value of a parameter that may be absent (None) as well as empty."""
        found = self.values.get(name)
        return found[0] if found else None

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])

    def flag(self, name: str) -> bool:
        return self.get(name).strip().lower() not in _FALSE

    def limit(self, default: int, most: int) -> int:
        text = self.get("limit")
        if not text:
            return default
        if not text.lstrip("-").isdigit():
            raise ApiError(422, "limit must be a number")
        return max(1, min(abs(int(text)), most))


async def _params(request: web.Request) -> Params:
    params = Params()
    for name, value in request.query.items():
        params.add(name, value)
    if not request.body_exists:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError as error:
            raise ApiError(400, "the body is not valid JSON") from error
        _add_json(params, body)
    else:
        for key, posted in (await request.post()).items():
            if isinstance(posted, str):
                params.add(key, posted)
    return params


def _add_json(params: Params, body: object) -> None:
    """A JSON body's top-level fields (nested objects, which Chirp has no use for, aside)."""
    for name, value in body.items() if isinstance(body, dict) else ():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool):
                params.add(name, "true" if item else "false")
            elif isinstance(item, str | int | float):
                params.add(name, str(item))


def _id(text: str, what: str = "Record") -> int:
    """A Mastodon id of a Chirp object; anything else is not found (as Mastodon answers)."""
    if not _ID.fullmatch(text) or int(text) >= 2**63 or int(text) == 0:
        raise ApiError(404, f"{what} not found")
    return int(text)


def _processing(media: media_pb2.Media) -> bool:
    return media.state == media_pb2.Media.STATE_PROCESSING


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (ApiError, OAuthError, ChirpError) as error:
        return _refusal(error)
    except web.HTTPException as error:
        if error.status in {404, 405}:  # no such route, or not with that method
            return _json(
                {"error": "Record not found" if error.status == 404 else error.reason}, error.status
            )
        raise  # a redirect
    except Exception:
        log.exception("unhandled error", path=request.path)
        return _json({"error": "internal error; the server logs have the details"}, 500)


def _refusal(error: ApiError | OAuthError | ChirpError) -> web.Response:
    if isinstance(error, ApiError):
        return _json({"error": str(error)}, error.status)
    if isinstance(error, OAuthError):
        return _json({"error": error.error, "error_description": str(error)}, error.status)
    if isinstance(error, ResourceExhausted):
        retry = str(max(1, round(error.retry_after_seconds)))
        return _json({"error": "Too many requests"}, 429, {"Retry-After": retry})
    status, message = _status_of(error)
    return _json({"error": message}, status)


def _status_of(error: ChirpError) -> tuple[int, str]:
    """A Chirp service's refusal in Mastodon's terms (its own wording kept after them)."""
    if isinstance(error, NotFound):
        return 404, "Record not found"
    if isinstance(error, InvalidArgument | FailedPrecondition | AlreadyExists):
        return 422, f"Validation failed: {error}"
    if isinstance(error, Unauthenticated):
        return 401, "The access token is invalid"
    if isinstance(error, PermissionDenied):
        return 403, "This action is not allowed"
    return 503, f"Service unavailable: {error}"


class MastodonApi:
    def __init__(
        self, oauth: OAuthService, chirp: Chirp, site: Site, requests: RedisRateLimiter
    ) -> None:
        """``requests`` counts each caller's requests (Mastodon's own limit: 300 per 5 min)."""
        self._oauth = oauth
        self._chirp = chirp
        self._site = site
        self._requests = requests

    def application(self) -> web.Application:
        # Uploads: up to the media service's 40 MiB (a video), with the multipart envelope.
        app = web.Application(
            middlewares=[_errors, self._rate_limited], client_max_size=41 * 1024 * 1024
        )
        for method, path, handler in self._routes():
            # Mastodon.py asks for /api/v1/instance/, toot opens /oauth/authorize/?...
            app.router.add_route(method, path + "{_slash:/?}", handler)
        return app

    def _routes(self) -> Sequence[tuple[str, str, Handler]]:
        return (
            ("GET", "/api/v1/instance", self.instance_v1),
            ("GET", "/api/v2/instance", self.instance_v2),
            ("GET", "/.well-known/nodeinfo", self.nodeinfo_links),
            ("GET", "/nodeinfo/2.0", self.nodeinfo),
            ("GET", "/.well-known/oauth-authorization-server", self.oauth_metadata),
            ("POST", "/api/v1/apps", self.create_app),
            ("GET", "/api/v1/apps/verify_credentials", self.verify_app),
            ("GET", "/oauth/authorize", self.authorize_page),
            ("POST", "/oauth/authorize", self.authorize),
            ("POST", "/oauth/token", self.token),
            ("POST", "/oauth/revoke", self.revoke),
            ("GET", "/api/v1/accounts/verify_credentials", self.verify_credentials),
            ("GET", "/api/v1/accounts/lookup", self.lookup),
            ("PATCH", "/api/v1/accounts/update_credentials", self.update_credentials),
            ("GET", "/api/v1/accounts/relationships", self.relationships),
            ("GET", r"/api/v1/accounts/{id:[^/{}]+}", self.get_account),
            ("GET", r"/api/v1/accounts/{id:[^/{}]+}/statuses", self.account_statuses),
            ("POST", r"/api/v1/accounts/{id:[^/{}]+}/follow", self.follow),
            ("POST", r"/api/v1/accounts/{id:[^/{}]+}/unfollow", self.unfollow),
            ("POST", "/api/v1/statuses", self.post_status),
            ("GET", r"/api/v1/statuses/{id:[^/{}]+}", self.get_status),
            ("DELETE", r"/api/v1/statuses/{id:[^/{}]+}", self.delete_status),
            ("POST", r"/api/v1/statuses/{id:[^/{}]+}/favourite", self.favourite),
            ("POST", r"/api/v1/statuses/{id:[^/{}]+}/unfavourite", self.unfavourite),
            ("POST", r"/api/v1/statuses/{id:[^/{}]+}/reblog", self.reblog),
            ("POST", r"/api/v1/statuses/{id:[^/{}]+}/unreblog", self.unreblog),
            ("GET", "/api/v1/timelines/home", self.home),
            ("GET", r"/api/v1/timelines/tag/{tag:[^/{}]+}", self.tag_timeline),
            ("GET", "/api/v1/timelines/public", self.public_timeline),
            ("POST", "/api/v1/accounts", self.register),
            ("GET", "/api/v1/accounts/search", self.search_accounts),
            ("GET", r"/api/v1/accounts/{id:[^/{}]+}/followers", self.followers),
            ("GET", r"/api/v1/accounts/{id:[^/{}]+}/following", self.following),
            ("GET", "/api/v1/favourites", self.favourites),
            ("PUT", r"/api/v1/statuses/{id:[^/{}]+}", self.edit_status),
            ("GET", r"/api/v1/statuses/{id:[^/{}]+}/history", self.history),
            ("GET", r"/api/v1/statuses/{id:[^/{}]+}/source", self.source),
            ("GET", r"/api/v1/statuses/{id:[^/{}]+}/context", self.context),
            ("GET", r"/api/v1/statuses/{id:[^/{}]+}/favourited_by", self.favourited_by),
            ("GET", r"/api/v1/statuses/{id:[^/{}]+}/reblogged_by", self.reblogged_by),
            ("POST", "/api/v1/media", self.upload),
            ("POST", "/api/v2/media", self.upload),
            ("GET", r"/api/v1/media/{id:[^/{}]+}", self.get_media),
            ("PUT", r"/api/v1/media/{id:[^/{}]+}", self.update_media),
            ("GET", "/api/v2/search", self.search),
            ("GET", "/api/v1/trends", self.trending_tags),
            ("GET", "/api/v1/trends/tags", self.trending_tags),
            ("GET", "/api/v1/trends/statuses", self.trending_statuses),
            ("GET", "/api/v2/suggestions", self.suggestions),
            ("GET", "/api/v1/streaming/health", self.streaming_health),
            ("GET", "/api/v1/streaming", self.streaming_socket),
            ("GET", r"/api/v1/streaming/{stream:user|public|public/local}", self.streaming_events),
            *((method, path, _nothing(body)) for method, path, body in NOTHING),
        )

    @web.middleware
    async def _rate_limited(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Mastodon's per-caller limit, told in Mastodon's ``X-RateLimit-*`` headers (the reset
        a time, which Mastodon.py parses) on every answer. A caller is its token (hashed), or
        its address without one; loopback callers (Envoy marks them internal) are counted
        but never refused, as Mastodon safelists localhost. Health checks (Envoy's every second,
        the stack's probes) are not API requests: neither counted nor refused."""
        if request.path == HEALTH_PATH:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        subject = (
            "token:" + digest(header)
            if header
            else "address:" + request.headers.get("X-Envoy-External-Address", request.remote or "")
        )
        usage = await self._requests.count(subject)
        limit = self._requests.limit.requests
        reset = datetime.now(UTC) + timedelta(seconds=usage.reset_seconds)
        told = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - usage.used)),
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        }
        internal = request.headers.get("X-Envoy-Internal") == "true"
        if usage.used > limit and not internal:
            wait = str(max(1, round(usage.reset_seconds)))
            return _json({"error": "Too many requests"}, 429, {**told, "Retry-After": wait})
        response = await handler(request)
        if not response.prepared:  # a stream has sent its headers already
            response.headers.update(told)
        return response

    # Statuses as the caller sees them.

    async def _statuses_json(
        self, tweets: Sequence[tweet_pb2.Tweet], session: str, *, text: bool = False
    ) -> list[Json]:
        """The statuses with the caller's own marks (favourited, reblogged), which Chirp's
        tweets do not carry: one ``BatchGetEngagements`` a page (none when anonymous)."""
        marks = entities.NO_MARKS
        if session and tweets:
            ids = list(dict.fromkeys(entities.original_id(t) for t in tweets))
            liked, retweeted = await self._chirp.engagements(ids, session)
            marks = entities.Marks(frozenset(liked), frozenset(retweeted))
        return [entities.status(tweet, self._site, marks, text=text) for tweet in tweets]

    async def _status_json(
        self, tweet: tweet_pb2.Tweet, session: str, *, text: bool = False
    ) -> Json:
        (rendered,) = await self._statuses_json([tweet], session, text=text)
        return rendered

    # Who is calling.

    async def _caller(self, request: web.Request, params: Params) -> Caller | None:
        """The token's caller; None without a token (a wrong token is 401)."""
        header = request.headers.get("Authorization", "")
        bearer = header[7:].strip() if header[:7].lower() == "bearer " else ""
        bearer = bearer or params.get("access_token")
        if not bearer:
            return None
        caller = await self._oauth.caller(bearer)
        if caller is None:
            raise ApiError(401, "The access token is invalid")
        return caller

    async def _app_caller(self, request: web.Request, params: Params, scope: str) -> Caller:
        caller = await self._caller(request, params)
        if caller is None:
            raise ApiError(401, "The access token is invalid")
        if not any(self._covers(caller, wanted) for wanted in scope.split("|")):
            raise ApiError(403, "This action is outside the authorized scopes")
        return caller

    async def _user(self, request: web.Request, params: Params, scope: str) -> tuple[int, str]:
        """The calling account and a session of it, for a route that needs both."""
        caller = await self._app_caller(request, params, scope)
        if caller.user_id is None:
            raise ApiError(422, "This method requires an authenticated user")
        return caller.user_id, await self._oauth.session(caller.user_id, caller.token_hash)

    async def _reader(self, request: web.Request, params: Params) -> str:
        """A session of the caller for a public read: empty when anonymous or an app."""
        caller = await self._caller(request, params)
        if caller is None or caller.user_id is None:
            return ""
        return await self._oauth.session(caller.user_id, caller.token_hash)

    @staticmethod
    def _covers(caller: Caller, wanted: str) -> bool:
        return covers(caller.scopes, wanted)

    # Instance.

    async def instance_v1(self, _request: web.Request) -> web.Response:
        return _json(entities.instance_v1(self._site))

    async def instance_v2(self, _request: web.Request) -> web.Response:
        return _json(entities.instance_v2(self._site))

    async def nodeinfo_links(self, _request: web.Request) -> web.Response:
        href = f"{self._site.base_url}/nodeinfo/2.0"
        rel = "http://nodeinfo.diaspora.software/ns/schema/2.0"
        return _json({"links": [{"rel": rel, "href": href}]})

    async def nodeinfo(self, _request: web.Request) -> web.Response:
        return _json(entities.nodeinfo())

    async def oauth_metadata(self, _request: web.Request) -> web.Response:
        base = self._site.base_url
        return _json(
            {
                "issuer": f"{base}/",
                "authorization_endpoint": f"{base}/oauth/authorize",
                "token_endpoint": f"{base}/oauth/token",
                "revocation_endpoint": f"{base}/oauth/revoke",
                "app_registration_endpoint": f"{base}/api/v1/apps",
                "scopes_supported": sorted(KNOWN_SCOPES),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "code_challenge_methods_supported": ["S256"],
                "grant_types_supported": ["authorization_code", "password", "client_credentials"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
            }
        )

    # OAuth.

    async def create_app(self, request: web.Request) -> web.Response:
        params = await _params(request)
        redirect_uris = "\n".join(params.all("redirect_uris"))
        app, secret = await self._oauth.register_app(
            params.get("client_name"), redirect_uris, params.get("scopes"), params.get("website")
        )
        return _json(
            {
                "id": app.client_id[:16],
                "name": app.name,
                "website": app.website or None,
                "scopes": sorted(app.scopes),
                "redirect_uri": "\n".join(app.redirect_uris),
                "redirect_uris": list(app.redirect_uris),
                "client_id": app.client_id,
                "client_secret": secret,
                "client_secret_expires_at": 0,
                "vapid_key": "",
            }
        )

    async def verify_app(self, request: web.Request) -> web.Response:
        params = await _params(request)
        caller = await self._app_caller(request, params, "read|write|follow|push|profile")
        app = await self._oauth.app(caller.client_id)
        return _json(
            {"name": app.name, "website": app.website or None, "scopes": sorted(app.scopes)}
        )

    async def authorize_page(self, request: web.Request) -> web.Response:
        params = await _params(request)
        asked = _authorization(params)
        app = await self._oauth.check_authorization(asked)
        return web.Response(text=_sign_in_page(app.name, asked, ""), content_type="text/html")

    async def authorize(self, request: web.Request) -> web.Response:
        params = await _params(request)
        asked = _authorization(params)
        app = await self._oauth.check_authorization(asked)
        try:
            code = await self._oauth.authorize(
                asked, params.get("username"), params.get("password")
            )
        except Unauthenticated:
            page = _sign_in_page(app.name, asked, "Wrong username or password.")
            return web.Response(text=page, content_type="text/html", status=401)
        if asked.redirect_uri == OUT_OF_BAND:
            page = _code_page(code)
            return web.Response(text=page, content_type="text/html")
        query = {"code": code, **({"state": params.get("state")} if params.get("state") else {})}
        separator = "&" if "?" in asked.redirect_uri else "?"
        raise web.HTTPFound(asked.redirect_uri + separator + urlencode(query))

    async def token(self, request: web.Request) -> web.Response:
        params = await _params(request)
        client_id, secret = _client_credentials(request, params)
        grant = params.get("grant_type")
        scope = params.get("scope") or params.get("scopes")
        if grant == "password":
            issued = await self._oauth.password_grant(
                client_id, secret or "", params.get("username"), params.get("password"), scope
            )
        elif grant == "client_credentials":
            issued = await self._oauth.client_credentials(client_id, secret or "", scope)
        elif grant == "authorization_code":
            issued = await self._oauth.code_grant(
                client_id,
                secret,
                params.get("code"),
                params.get("redirect_uri"),
                params.get("code_verifier"),
            )
        else:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant!r} is not supported")
        return _json(_token_json(issued))

    async def revoke(self, request: web.Request) -> web.Response:
        params = await _params(request)
        client_id, secret = _client_credentials(request, params)
        await self._oauth.revoke(client_id, secret or "", params.get("token"))
        return _json({})

    # Accounts.

    async def verify_credentials(self, request: web.Request) -> web.Response:
        params = await _params(request)
        _, session = await self._user(request, params, "read:accounts|profile")
        return _json(entities.credential_account(await self._chirp.me(session), self._site))

    async def update_credentials(self, request: web.Request) -> web.Response:
        """The display name and the note (Chirp's bio) change; what Chirp has no notion of
        (avatar and header images, locked, bot, fields, the source's defaults) is refused
        rather than dropped silently, so a client does not show a change that was not made."""
        params = await _params(request)
        _, session = await self._user(request, params, "write:accounts")
        unsupported = sorted(
            name
            for name in params.values
            if name in UNSUPPORTED_PROFILE_FIELDS or name.startswith(("source[", "fields_"))
        )
        if unsupported or request.content_type.startswith("multipart/"):
            fields = ", ".join(unsupported) or "avatar and header images"
            raise ApiError(422, f"Validation failed: Chirp profiles have no {fields}")
        user = await self._chirp.update_me(
            session, params.optional("display_name"), params.optional("note")
        )
        return _json(entities.credential_account(user, self._site))

    async def lookup(self, request: web.Request) -> web.Response:
        params = await _params(request)
        acct = params.get("acct").strip().lstrip("@")
        username, _, domain = acct.partition("@")
        if not username or (domain and domain != self._site.domain):
            raise ApiError(404, "Record not found")
        user = await self._chirp.user(username, await self._reader(request, params))
        return _json(entities.account(user, self._site))

    async def get_account(self, request: web.Request) -> web.Response:
        params = await _params(request)
        user = await self._account(request.match_info["id"], await self._reader(request, params))
        return _json(entities.account(user, self._site))

    async def relationships(self, request: web.Request) -> web.Response:
        params = await _params(request)
        _, session = await self._user(request, params, "read:follows")
        ids = [int(text) for text in params.all("id") if _ID.fullmatch(text)]
        found = await self._chirp.users(ids, session)  # FULL views: read with the caller's token
        return _json(
            [
                entities.relationship(
                    i, following=found[i].caller_follows, followed_by=found[i].follows_caller
                )
                for i in ids
                if i in found
            ]
        )

    async def account_statuses(self, request: web.Request) -> web.Response:
        params = await _params(request)
        session = await self._reader(request, params)
        user = await self._account(request.match_info["id"], session)

        async def fetch(size: int, token: str) -> tuple[list[tweet_pb2.Tweet], str]:
            return await self._chirp.user_tweets(user.username, session, size, token)

        def start(max_id: int) -> str:
            return encode_token(USER_TWEETS, user.id, max_id)

        tweets = await _statuses(params, fetch, start)
        if params.flag("exclude_reblogs"):
            tweets = [t for t in tweets if not t.HasField("retweet_of")]
        if params.flag("exclude_replies"):
            tweets = [t for t in tweets if not t.reply_to_id]
        if params.flag("only_media"):
            tweets = [t for t in tweets if t.media]
        return await self._status_page(request, params, tweets, session)

    async def follow(self, request: web.Request) -> web.Response:
        return await self._follow(request, undo=False)

    async def unfollow(self, request: web.Request) -> web.Response:
        return await self._follow(request, undo=True)

    async def _follow(self, request: web.Request, *, undo: bool) -> web.Response:
        params = await _params(request)
        user_id, session = await self._user(request, params, "write:follows")
        target = await self._account(request.match_info["id"], session)
        if target.id == user_id:
            raise ApiError(403, "This action is not allowed")
        following, followed_by = await self._chirp.follow(target.username, session, undo=undo)
        return _json(entities.relationship(target.id, following=following, followed_by=followed_by))

    async def _account(self, text: str, session: str) -> user_pb2.User:
        found = await self._chirp.users([_id(text)], session)
        if not found:
            raise ApiError(404, "Record not found")
        return next(iter(found.values()))

    # Statuses.

    async def post_status(self, request: web.Request) -> web.Response:
        params = await _params(request)
        _, session = await self._user(request, params, "write:statuses")
        media_ids = [_id(text, "Media") for text in params.all("media_ids")]
        text = params.get("status")
        if not text.strip() and not media_ids:
            raise ApiError(422, "Validation failed: Text can't be blank")
        reply_to = params.get("in_reply_to_id")
        tweet = await self._chirp.post(
            session,
            text,
            _id(reply_to) if reply_to else 0,
            media_ids,
            request.headers.get("Idempotency-Key", "")[:64],
        )
        return _json(entities.status(tweet, self._site))

    async def get_status(self, request: web.Request) -> web.Response:
        params = await _params(request)
        session = await self._reader(request, params)
        tweet = await self._chirp.tweet(_id(request.match_info["id"]), session)
        return _json(await self._status_json(tweet, session))

    async def delete_status(self, request: web.Request) -> web.Response:
        params = await _params(request)
        _, session = await self._user(request, params, "write:statuses")
        tweet_id = _id(request.match_info["id"])
        tweet = await self._chirp.tweet(tweet_id, session)
        await self._chirp.delete(tweet_id, session)
        return _json(entities.status(tweet, self._site, text=True))

    async def favourite(self, request: web.Request) -> web.Response:
        return await self._like(request, undo=False)

    async def unfavourite(self, request: web.Request) -> web.Response:
        return await self._like(request, undo=True)

    async def _like(self, request: web.Request, *, undo: bool) -> web.Response:
        params = await _params(request)
        _, session = await self._user(request, params, "write:favourites")
        tweet = await self._chirp.like(_id(request.match_info["id"]), session, undo=undo)
        return _json(await self._status_json(tweet, session))

    async def reblog(self, request: web.Request) -> web.Response:
        params = await _params(request)
        _, session = await self._user(request, params, "write:statuses")
        tweet = await self._chirp.retweet(_id(request.match_info["id"]), session, undo=False)
        return _json(await self._status_json(tweet, session))

    async def unreblog(self, request: web.Request) -> web.Response:
        params = await _params(request)
        _, session = await self._user(request, params, "write:statuses")
        tweet = await self._chirp.retweet(_id(request.match_info["id"]), session, undo=True)
        return _json(await self._status_json(tweet, session))

    # Timelines.

    async def home(self, request: web.Request) -> web.Response:
        params = await _params(request)
        _, session = await self._user(request, params, "read:statuses")

        async def fetch(size: int, token: str) -> tuple[list[tweet_pb2.Tweet], str]:
            return await self._chirp.home(session, size, token)

        def start(max_id: int) -> str:
            return encode_token(HOME_TIMELINE, 0, max_id)

        return await self._status_page(
            request, params, await _statuses(params, fetch, start), session
        )

    async def public_timeline(self, request: web.Request) -> web.Response:
        """Everyone's newest posts (Chirp has no other instance: ``local`` and ``remote`` change
        nothing, and ``remote`` alone is empty)."""
        params = await _params(request)
        session = await self._reader(request, params)
        if params.flag("remote") and not params.flag("local"):
            return _json([])

        async def fetch(size: int, token: str) -> tuple[list[tweet_pb2.Tweet], str]:
            return await self._chirp.public(session, size, token)

        def start(max_id: int) -> str:
            return encode_token(PUBLIC_TIMELINE, 0, max_id)

        tweets = await _statuses(params, fetch, start)
        if params.flag("only_media"):
            tweets = [t for t in tweets if t.media]
        return await self._status_page(request, params, tweets, session)

    async def tag_timeline(self, request: web.Request) -> web.Response:
        params = await _params(request)
        session = await self._reader(request, params)
        query = "#" + request.match_info["tag"].lstrip("#")

        async def fetch(size: int, token: str) -> tuple[list[tweet_pb2.Tweet], str]:
            return await self._chirp.search_tweets(query, session, size, token)

        return await self._status_page(request, params, await _statuses(params, fetch), session)

    # More of accounts.

    async def register(self, request: web.Request) -> web.Response:
        """An account made by an app (its client-credentials token), signed in for it."""
        params = await _params(request)
        caller = await self._app_caller(request, params, "write:accounts|write")
        issued = await self._oauth.register(
            caller,
            params.get("username"),
            params.get("password"),
            params.get("display_name"),
        )
        return _json(_token_json(issued))

    async def search_accounts(self, request: web.Request) -> web.Response:
        params = await _params(request)
        _, session = await self._user(request, params, "read:accounts")
        users, _ = await self._chirp.search_users(
            params.get("q"), session, params.limit(40, 80), ""
        )
        return _json([entities.account(user, self._site) for user in users])

    async def followers(self, request: web.Request) -> web.Response:
        return await self._follow_list(request, followers=True)

    async def following(self, request: web.Request) -> web.Response:
        return await self._follow_list(request, followers=False)

    async def _follow_list(self, request: web.Request, *, followers: bool) -> web.Response:
        params = await _params(request)
        session = await self._reader(request, params)
        user = await self._account(request.match_info["id"], session)
        users, token = await self._chirp.follows(
            user.username, session, params.limit(40, 80), params.get("max_id"),
            followers=followers,
        )  # fmt: skip
        return self._account_page(request, params, users, token)

    async def favourites(self, request: web.Request) -> web.Response:
        params = await _params(request)
        _, session = await self._user(request, params, "read:favourites")
        me = await self._chirp.me(session)
        tweets, token = await self._chirp.liked(
            me.username, session, params.limit(20, 40), params.get("max_id")
        )
        body = await self._statuses_json(tweets, session)
        return _json(body, headers=self._token_link(request, params, token))

    # More of statuses.

    async def edit_status(self, request: web.Request) -> web.Response:
        params = await _params(request)
        _, session = await self._user(request, params, "write:statuses")
        tweet = await self._chirp.edit(_id(request.match_info["id"]), params.get("status"), session)
        return _json(await self._status_json(tweet, session))

    async def history(self, request: web.Request) -> web.Response:
        """Every version, oldest first, the current one last (as Mastodon lists them)."""
        params = await _params(request)
        session = await self._reader(request, params)
        tweet_id = _id(request.match_info["id"])
        tweet = await self._chirp.tweet(tweet_id, session)
        earlier = await self._chirp.versions(tweet_id, session)
        current = tweet_pb2.TweetVersion(
            tweet_id=tweet.id,
            text=tweet.text,
            entities=tweet.entities,
            create_time=tweet.edit_time if tweet.HasField("edit_time") else tweet.create_time,
        )
        versions = [*reversed(earlier), current]
        return _json([entities.edit(v, tweet.author, self._site) for v in versions])

    async def source(self, request: web.Request) -> web.Response:
        params = await _params(request)
        _, session = await self._user(request, params, "read:statuses")
        tweet = await self._chirp.tweet(_id(request.match_info["id"]), session)
        return _json({"id": str(tweet.id), "text": tweet.text, "spoiler_text": ""})

    async def context(self, request: web.Request) -> web.Response:
        """The replies above a status (oldest first) and the thread below it (depth first,
        oldest first at each level), each bounded as Mastodon bounds them."""
        params = await _params(request)
        session = await self._reader(request, params)
        tweet = await self._chirp.tweet(_id(request.match_info["id"]), session)
        ancestors: list[tweet_pb2.Tweet] = []
        parent = tweet.reply_to_id
        while parent and len(ancestors) < CONTEXT_ANCESTORS:
            try:
                above = await self._chirp.tweet(parent, session)
            except NotFound:  # a deleted parent ends the thread above
                break
            ancestors.insert(0, above)
            parent = above.reply_to_id
        descendants = await self._descendants(tweet.id, session)
        return _json(
            {
                "ancestors": await self._statuses_json(ancestors, session),
                "descendants": await self._statuses_json(descendants, session),
            }
        )

    async def _descendants(self, tweet_id: int, session: str) -> list[tweet_pb2.Tweet]:
        found: list[tweet_pb2.Tweet] = []
        replies, _ = await self._chirp.replies(tweet_id, session, CONTEXT_DESCENDANTS, "")
        for reply in sorted(replies, key=lambda t: t.id):
            if len(found) >= CONTEXT_DESCENDANTS:
                break
            found.append(reply)
            if reply.reply_count:
                found += await self._descendants(reply.id, session)
        return found[:CONTEXT_DESCENDANTS]

    async def favourited_by(self, request: web.Request) -> web.Response:
        params = await _params(request)
        session = await self._reader(request, params)
        users, token = await self._chirp.likers(
            _id(request.match_info["id"]), session, params.limit(40, 80), params.get("max_id")
        )
        return self._account_page(request, params, users, token)

    async def reblogged_by(self, request: web.Request) -> web.Response:
        params = await _params(request)
        session = await self._reader(request, params)
        users, token = await self._chirp.retweeters(
            _id(request.match_info["id"]), session, params.limit(40, 80), params.get("max_id")
        )
        return self._account_page(request, params, users, token)

    # Media.

    async def upload(self, request: web.Request) -> web.Response:
        """A photo or a video (multipart ``file``, with an optional ``description``). A photo is
        processed at once; a video is answered 202 on ``/api/v2/media`` while it is processed
        (its ``url`` null until then), as Mastodon does."""
        if not request.content_type.startswith("multipart/"):
            raise ApiError(422, "Validation failed: send the file as multipart/form-data")
        _, session = await self._user(request, await _params(request), "write:media")
        form = await request.post()  # read once: aiohttp keeps it for this second ask
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            raise ApiError(422, "Validation failed: file is required")
        description = form.get("description")
        media = await self._chirp.upload(
            session,
            upload.file.read(),
            upload.content_type,
            description if isinstance(description, str) else "",
        )
        accepted = request.path.startswith("/api/v2/") and _processing(media)
        return _json(entities.attachment(media), 202 if accepted else 200)

    async def get_media(self, request: web.Request) -> web.Response:
        """An upload; 206 Partial Content while it is processed, as Mastodon answers."""
        params = await _params(request)
        _, session = await self._user(request, params, "write:media")
        media = await self._chirp.media(_id(request.match_info["id"], "Media"), session)
        return _json(entities.attachment(media), 206 if _processing(media) else 200)

    async def update_media(self, request: web.Request) -> web.Response:
        """A photo's description is set when it is uploaded (Chirp keeps alt text immutable):
        repeating it is fine, changing it is refused."""
        params = await _params(request)
        _, session = await self._user(request, params, "write:media")
        media = await self._chirp.media(_id(request.match_info["id"], "Media"), session)
        wanted = params.optional("description")
        if wanted is not None and wanted != media.alt_text:
            raise ApiError(422, "Validation failed: a description is set on upload only")
        return _json(entities.attachment(media))

    # Streaming.

    async def streaming_health(self, _request: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def streaming_events(self, request: web.Request) -> web.StreamResponse:
        """A stream as server-sent events."""
        name = request.match_info["stream"].replace("/", ":")
        streams = await self._streams(request, name)
        stream = streams.named(name)
        if stream is None:
            raise ApiError(404, "Unknown stream")
        return await streaming.server_sent_events(request, stream)

    async def streaming_socket(self, request: web.Request) -> web.StreamResponse:
        """Streams over a WebSocket (``?stream=``: the first one)."""
        name = request.query.get("stream", "user")
        streams = await self._streams(request, name)
        return await streaming.websocket(request, streams, name)

    async def _streams(self, request: web.Request, name: str) -> streaming.Streams:
        """The caller's streams: the user stream needs an account's token, the public one
        none."""
        params = await _params(request)
        if name == "user":
            _, session = await self._user(request, params, "read:statuses")
        else:
            session = await self._reader(request, params)
        return streaming.Streams(self._chirp, self._site, session)

    # Search, trends, suggestions.

    async def search(self, request: web.Request) -> web.Response:
        """Accounts, statuses and hashtags matching ``q`` (``type`` narrows it). A ``#tag``
        finds that hashtag, and no statuses, as Mastodon answers it; a word finds no hashtag
        (Chirp keeps no directory of tags to match it against)."""
        params = await _params(request)
        session = await self._reader(request, params)
        q, kind = params.get("q").strip(), params.get("type")
        if not q:
            raise ApiError(400, "param is missing or the value is empty: q")
        size, offset = params.limit(20, 40), params.get("offset", "0")
        body: dict[str, list[Json]] = {"accounts": [], "statuses": [], "hashtags": []}
        if offset not in ("", "0"):  # Chirp's lists page by token: the first page only
            return _json(body)
        name = q.removeprefix("@").split("@")[0]
        if kind in ("", "accounts") and name:
            body["accounts"] = [
                entities.account(user, self._site)
                for user in await self._accounts_named(name, session, size)
            ]
        tag = q.removeprefix("#")
        if kind in ("", "hashtags") and q.startswith("#") and _TAG.fullmatch(tag):
            body["hashtags"] = [entities.tag(tag, self._site)]
        if kind in ("", "statuses") and not q.startswith(("#", "@")):
            tweets, _ = await self._chirp.search_tweets(q, session, size, "")
            body["statuses"] = await self._statuses_json(tweets, session)
        return _json(body)

    async def _accounts_named(self, name: str, session: str, size: int) -> list[user_pb2.User]:
        """The account of that exact username first (found at once, as Mastodon's own search
        does: the user index learns of a new account within about a second), then the
        matches of the user search."""
        users, _ = await self._chirp.search_users(name, session, size, "")
        if not is_username(name):
            return users
        try:
            exact = await self._chirp.user(name, session)
        except NotFound:
            return users
        return [exact, *(user for user in users if user.id != exact.id)][:size]

    async def trending_tags(self, request: web.Request) -> web.Response:
        params = await _params(request)
        trends = await self._chirp.trends(params.limit(10, 20))
        today = int(time.time()) // 86400 * 86400
        return _json(
            [
                entities.tag(
                    t.name.removeprefix("#"), self._site, t.tweet_count, t.author_count, today
                )
                for t in trends
                if t.kind == trend_pb2.TREND_KIND_HASHTAG
            ]
        )

    async def trending_statuses(self, request: web.Request) -> web.Response:
        """The most engaging recent posts of the top trend (Chirp ranks terms, not posts)."""
        params = await _params(request)
        session = await self._reader(request, params)
        trends = await self._chirp.trends(1)
        if not trends:
            return _json([])
        tweets, _ = await self._chirp.search_tweets(
            trends[0].query, session, params.limit(20, 40), ""
        )
        return _json(await self._statuses_json(tweets, session))

    async def suggestions(self, request: web.Request) -> web.Response:
        params = await _params(request)
        _, session = await self._user(request, params, "read")
        users = await self._chirp.suggestions(session, params.limit(40, 80))
        return _json(
            [
                {
                    "source": "global",
                    "sources": ["friends_of_friends"],
                    "account": entities.account(user, self._site),
                }
                for user in users
            ]
        )

    def _account_page(
        self, request: web.Request, params: Params, users: Sequence[user_pb2.User], token: str
    ) -> web.Response:
        body = [entities.account(user, self._site) for user in users]
        return _json(body, headers=self._token_link(request, params, token))

    def _token_link(self, request: web.Request, params: Params, token: str) -> dict[str, str]:
        """A list paged by Chirp's own token: ``next`` carries it as ``max_id`` (ids are opaque
        to clients, which follow the link); none after the last page."""
        if not token:
            return {}
        url = f"{self._site.base_url}{request.path}"
        kept = {k: v for k, v in params.values.items() if k not in PAGE_PARAMS}
        return {"Link": f'<{_link(url, kept, "max_id", token)}>; rel="next"'}

    async def _status_page(
        self,
        request: web.Request,
        params: Params,
        tweets: Sequence[tweet_pb2.Tweet],
        session: str,
    ) -> web.Response:
        """Statuses newest first, with Mastodon's Link header: ``next`` continues below the
        last, ``prev`` above the first; none on an empty page (clients stop there)."""
        headers = {}
        if tweets:
            url = f"{self._site.base_url}{request.path}"
            kept = {k: v for k, v in params.values.items() if k not in PAGE_PARAMS}
            older = _link(url, kept, "max_id", tweets[-1].id)
            newer = _link(url, kept, "min_id", tweets[0].id)
            headers["Link"] = f'<{older}>; rel="next", <{newer}>; rel="prev"'
        return _json(await self._statuses_json(tweets, session), headers=headers)


#: What apps call at start-up and Chirp has no notion of: answered empty, in the right shape.
NOTHING: tuple[tuple[str, str, object], ...] = (
    ("GET", "/api/v1/notifications", []),
    ("POST", "/api/v1/notifications/clear", {}),
    ("GET", "/api/v1/markers", {}),
    ("POST", "/api/v1/markers", {}),
    ("GET", "/api/v1/filters", []),
    ("GET", "/api/v2/filters", []),
    ("GET", "/api/v1/lists", []),
    ("GET", "/api/v1/mutes", []),
    ("GET", "/api/v1/blocks", []),
    ("GET", "/api/v1/bookmarks", []),
    ("GET", "/api/v1/custom_emojis", []),
    ("GET", "/api/v1/announcements", []),
    ("GET", "/api/v1/conversations", []),
    ("GET", "/api/v1/follow_requests", []),
    ("GET", "/api/v1/domain_blocks", []),
    ("GET", "/api/v1/endorsements", []),
    ("GET", "/api/v1/featured_tags", []),
    ("GET", "/api/v1/followed_tags", []),
    ("GET", "/api/v1/scheduled_statuses", []),
    (
        "GET",
        "/api/v1/preferences",
        {
            "posting:default:visibility": "public",
            "posting:default:sensitive": False,
            "posting:default:language": None,
            "reading:expand:media": "default",
            "reading:expand:spoilers": False,
        },
    ),
)
#: Profile fields of Mastodon that Chirp does not have (``update_credentials`` refuses them).
UNSUPPORTED_PROFILE_FIELDS = frozenset(
    {"locked", "bot", "discoverable", "hide_collections", "indexable", "avatar", "header"}
)
#: How far a thread's context reaches, up and down (Mastodon's own bounds).
CONTEXT_ANCESTORS = 40
CONTEXT_DESCENDANTS = 60
_TAG = re.compile(r"\w{1,100}")


def _nothing(body: object) -> Handler:
    async def answer(_request: web.Request) -> web.Response:
        return _json(body)

    return answer


def _token_json(issued: Issued) -> dict[str, object]:
    return {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "scope": " ".join(sorted(issued.scopes)),
        "created_at": int(issued.create_time.timestamp()),
    }


#: What a status page's links set themselves.
PAGE_PARAMS = frozenset({"max_id", "since_id", "min_id", "access_token"})


def _link(url: str, kept: dict[str, list[str]], name: str, value: int | str) -> str:
    pairs = [(key, kept_value) for key, values in kept.items() for kept_value in values]
    return f"{url}?{urlencode([*pairs, (name, str(value))])}"


async def _statuses(
    params: Params,
    fetch: Callable[[int, str], Awaitable[tuple[list[tweet_pb2.Tweet], str]]],
    start: Callable[[int], str] | None = None,
) -> list[tweet_pb2.Tweet]:
    """A page of a Chirp list newest first, in Mastodon's terms: ``max_id`` (older than),
    ``since_id`` (the newest above it) and ``min_id`` (the oldest above it, returned newest
    first). A list that can start at an id (``start``) starts there; another is walked from
    its newest entries, a few pages at most."""
    size = params.limit(20, 40)
    max_id = _id(params.get("max_id")) if params.get("max_id") else None
    min_id = params.get("min_id")
    newer_than = min_id or params.get("since_id")
    bound = _id(newer_than) if newer_than else None
    token = start(max_id) if start is not None and max_id is not None else ""
    if bound is None and (max_id is None or start is not None):
        tweets, _ = await fetch(size, token)
        return tweets
    kept: list[tweet_pb2.Tweet] = []
    for _ in range(WALKED_PAGES):
        tweets, token = await fetch(40, token)
        kept += [
            t
            for t in tweets
            if (max_id is None or t.id < max_id) and (bound is None or t.id > bound)
        ]
        reached = bound is not None and bool(tweets) and tweets[-1].id <= bound
        if not token or not tweets or reached or (bound is None and len(kept) >= size):
            break
    return kept[-size:] if min_id else kept[:size]


def _authorization(params: Params) -> Authorization:
    return Authorization(
        client_id=params.get("client_id"),
        redirect_uri=params.get("redirect_uri"),
        scope=params.get("scope"),
        code_challenge=params.get("code_challenge"),
        code_challenge_method=params.get("code_challenge_method"),
    )


def _client_credentials(request: web.Request, params: Params) -> tuple[str, str | None]:
    """The client's id and secret, from HTTP Basic or the body (a public client sends none)."""
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise OAuthError("invalid_client", "unreadable Basic credentials", 401) from error
        return client_id, secret
    secrets = params.all("client_secret")
    return params.get("client_id"), secrets[0] if secrets else None


def _sign_in_page(app_name: str, asked: Authorization, problem: str) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
        for name, value in (
            ("client_id", asked.client_id),
            ("redirect_uri", asked.redirect_uri),
            ("scope", asked.scope),
            ("code_challenge", asked.code_challenge),
            ("code_challenge_method", asked.code_challenge_method),
        )
    )
    warning = f'<p role="alert">{html.escape(problem)}</p>' if problem else ""
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Sign in to Chirp</title>'
        "</head><body><h1>Sign in to Chirp</h1>"
        f"<p>{html.escape(app_name)} asks for: {html.escape(asked.scope or 'read')}</p>"
        f'{warning}<form method="post" action="/oauth/authorize">{hidden}'
        '<label>Username <input name="username" autocomplete="username" required></label>'
        '<label>Password <input name="password" type="password" '
        'autocomplete="current-password" required></label>'
        '<button type="submit">Authorize</button></form></body></html>'
    )


def _code_page(code: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Authorization code</title>'
        "</head><body><h1>Authorization code</h1><p>Copy this code into the app:</p>"
        f'<pre id="code">{html.escape(code)}</pre></body></html>'
    )
