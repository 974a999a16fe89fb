"""The account logic with in-memory adapters behind its Protocols (``fakes.py``; each is held to
its real adapter by tests/contracts/users)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest

from services.platform.auth import Caller
from services.platform.errors import (
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from services.platform.ids import timestamp_ms
from services.users.model import Counts, IssuedToken, NotWritten, Relationship, User, View
from services.users.service import SIGN_IN_REFUSED
from tests.unit.users.fakes import NOW, PASSWORD, QUARANTINE, SIGN_INS, Tokens, World


def _caller(user: User) -> Caller:
    return Caller(user.id, user.username)


async def test_registration_stores_the_account_its_hash_and_its_event(world: World) -> None:
    user = await world.accounts.register("Ada", PASSWORD, "Ada L.")
    assert (user.username, user.display_name, user.bio) == ("Ada", "Ada L.", "")
    assert user.create_time == user.update_time
    assert round(user.create_time.timestamp() * 1000) == timestamp_ms(user.id)
    assert world.store.names == {"ada": user.id}
    assert world.store.hashes[user.id] == f"hashed:{PASSWORD}"
    assert world.store.events == [("users.created", user, ())]
    assert world.cache.users == {user.id: user}
    assert world.cache.ids == {"ada": user.id}


async def test_a_taken_name_is_refused_in_any_case(world: World) -> None:
    first = await world.accounts.register("ada", PASSWORD, "")
    with pytest.raises(AlreadyExists, match="the username 'ADA' is taken"):
        await world.accounts.register("ADA", PASSWORD, "")
    assert list(world.store.users) == [first.id]


async def test_invalid_input_writes_nothing(world: World) -> None:
    with pytest.raises(InvalidArgument):
        await world.accounts.register("me", PASSWORD, "")
    assert world.store.names == {}
    assert world.store.users == {}


async def test_a_refused_account_write_gives_the_name_back(world: World) -> None:
    world.store.fail_create = NotWritten("batch too large")
    with pytest.raises(Unavailable, match="please try again"):
        await world.accounts.register("ada", PASSWORD, "")
    assert world.store.names == {}
    world.store.fail_create = None
    user = await world.accounts.register("ada", PASSWORD, "")
    assert world.store.names == {"ada": user.id}


async def test_an_account_write_of_unknown_outcome_keeps_the_name(world: World) -> None:
    world.store.fail_create = TimeoutError("write timed out")
    with pytest.raises(TimeoutError):
        await world.accounts.register("ada", PASSWORD, "")
    assert "ada" in world.store.names  # it may yet be written: never give it to someone else


async def test_sign_in_answers_the_same_for_an_unknown_user_and_a_wrong_password(
    world: World,
) -> None:
    user = await world.accounts.register("ada", PASSWORD, "")
    with pytest.raises(Unauthenticated) as wrong_password:
        await world.accounts.sign_in("ada", "wrong password")
    with pytest.raises(Unauthenticated) as unknown_user:
        await world.accounts.sign_in("bob", PASSWORD)
    with pytest.raises(Unauthenticated) as malformed_user:
        await world.accounts.sign_in("not a name!", PASSWORD)
    assert str(wrong_password.value) == str(unknown_user.value) == SIGN_IN_REFUSED
    assert str(malformed_user.value) == SIGN_IN_REFUSED
    # Every attempt verified a hash: the account's, or the dummy (None) for unknown users.
    assert world.passwords.verified == [f"hashed:{PASSWORD}", None, None]
    assert user.id in world.store.users


async def test_sign_in_issues_a_token_with_the_full_profile(world: World) -> None:
    user = await world.accounts.register("ada", PASSWORD, "")
    world.social.tweets[user.id] = 3
    signed_in = await world.accounts.sign_in("ADA", PASSWORD)
    assert signed_in.token == IssuedToken(f"token-for-{user.id}", NOW + timedelta(hours=1))
    assert signed_in.profile.user == user
    assert signed_in.profile.counts == Counts(tweet_count=3)
    assert signed_in.profile.relationship is None  # one's own profile


async def test_a_session_is_issued_for_an_account_another_service_signed_in(
    world: World,
) -> None:
    user = await world.accounts.register("ada", PASSWORD, "")
    issued = await world.accounts.issue_session(user.id)
    assert issued.token == IssuedToken(f"token-for-{user.id}", NOW + timedelta(hours=1))
    assert issued.profile.user == user
    with pytest.raises(NotFound):
        await world.accounts.issue_session(user.id + 1)
    with pytest.raises(InvalidArgument, match="user_id"):
        await world.accounts.issue_session(0)


async def test_sign_in_attempts_are_limited_per_username_in_any_case(world: World) -> None:
    await world.accounts.register("ada", PASSWORD, "")
    await world.accounts.register("bob", PASSWORD, "")
    for attempt in ("ada", "Ada", "ADA"):
        with pytest.raises(Unauthenticated):
            await world.accounts.sign_in(attempt, "wrong password")
    # Over the limit even the right password is refused, before any hash is verified.
    verified = len(world.passwords.verified)
    with pytest.raises(ResourceExhausted) as refused:
        await world.accounts.sign_in("ada", PASSWORD)
    assert refused.value.retry_after_seconds == 300
    assert "too many log-in attempts for this username" in str(refused.value)
    assert len(world.passwords.verified) == verified
    # Another account is not affected; names that cannot exist get no counter.
    assert (await world.accounts.sign_in("bob", PASSWORD)).profile.user.username == "bob"
    with pytest.raises(Unauthenticated):
        await world.accounts.sign_in("not a name!", PASSWORD)
    assert world.sign_ins.counts == Counter({"ada": 4, "bob": 1})


async def test_sign_in_needs_both_fields(world: World) -> None:
    with pytest.raises(InvalidArgument) as error:
        await world.accounts.sign_in("", "")
    assert error.value.violations == (
        FieldViolation("username", "is required"),
        FieldViolation("password", "is required"),
    )


async def test_a_profile_has_counts_and_the_callers_relationship(world: World) -> None:
    ada = await world.accounts.register("ada", PASSWORD, "")
    bob = await world.accounts.register("bob", PASSWORD, "")
    world.social.follows |= {(bob.id, ada.id)}
    seen_by_bob = await world.accounts.profile("ADA", _caller(bob))
    assert seen_by_bob.counts == Counts(follower_count=1)
    assert seen_by_bob.relationship == Relationship(caller_follows=True, follows_caller=False)
    # Again, the id now cached: the account and its counts are read together.
    assert await world.accounts.profile("ada", _caller(bob)) == seen_by_bob
    anonymous = await world.accounts.profile("ada", None)
    assert anonymous.relationship is None
    own = await world.accounts.own_profile(_caller(ada))
    assert own.relationship is None


async def test_unknown_and_malformed_usernames(world: World) -> None:
    with pytest.raises(NotFound, match="there is no user 'nobody'"):
        await world.accounts.profile("nobody", None)
    with pytest.raises(InvalidArgument):
        await world.accounts.profile("no body", None)


async def test_a_name_claimed_without_an_account_is_not_a_user(world: World) -> None:
    world.store.names["ghost"] = 12345  # a registration in flight, or one that died
    with pytest.raises(NotFound):
        await world.accounts.profile("ghost", None)
    assert world.cache.ids == {}  # never cached: the claim may still be released


async def test_a_token_for_an_account_that_does_not_exist_is_refused(world: World) -> None:
    with pytest.raises(Unauthenticated):
        await world.accounts.own_profile(Caller(999, "ghost"))


async def test_an_update_writes_the_changed_fields_and_its_event(world: World) -> None:
    user = await world.accounts.register("ada", PASSWORD, "Ada")
    profile = await world.accounts.update_profile(
        _caller(user), ["display_name", "bio"], {"display_name": "Ada", "bio": "math"}
    )
    assert (profile.user.display_name, profile.user.bio) == ("Ada", "math")
    assert profile.user.update_time == NOW.replace(microsecond=123000)
    assert world.store.events[-1] == ("users.updated", profile.user, ("bio",))
    assert world.store.users[user.id] == profile.user
    assert world.cache.users[user.id] == profile.user


async def test_an_update_compares_with_the_store_not_a_stale_cache(world: World) -> None:
    user = await world.accounts.register("ada", PASSWORD, "Ada")
    world.cache.users[user.id] = replace(user, bio="stale")  # a cache write that was lost
    profile = await world.accounts.update_profile(_caller(user), ["bio"], {"bio": "stale"})
    assert world.store.users[user.id].bio == "stale"
    assert world.store.events[-1] == ("users.updated", profile.user, ("bio",))


async def test_an_update_that_changes_nothing_writes_nothing(world: World) -> None:
    user = await world.accounts.register("ada", PASSWORD, "Ada")
    profile = await world.accounts.update_profile(_caller(user), [], {"display_name": "Ada"})
    assert profile.user == user
    assert [event for event, _, _ in world.store.events] == ["users.created"]


async def test_batches_keep_request_order_skip_missing_and_answer_duplicates_once(
    world: World,
) -> None:
    ada = await world.accounts.register("ada", PASSWORD, "")
    bob = await world.accounts.register("bob", PASSWORD, "")
    world.cache.users.clear()
    profiles = await world.accounts.get_many([bob.id, 424242, ada.id, bob.id, -1], View.BASIC, None)
    assert [profile.user for profile in profiles] == [bob, ada]
    assert world.cache.users == {ada.id: ada, bob.id: bob}  # read through
    reads = world.store.reads
    await world.accounts.get_many([ada.id, bob.id], View.BASIC, None)
    assert world.store.reads == reads  # served by the cache

    by_name = await world.accounts.get_many_by_username(
        ["BOB", "nobody", "Ada", "bob", "not valid"], View.BASIC, None
    )
    assert [profile.user for profile in by_name] == [bob, ada]


async def test_only_well_formed_names_are_folded_and_matched(world: World) -> None:
    await world.accounts.register("strasse", PASSWORD, "")
    await world.accounts.register("k", PASSWORD, "")
    # "ß" folds to "ss" and the Kelvin sign to "k", but neither is a username character.
    assert await world.accounts.get_many_by_username(["Straße", "\u212a"], View.BASIC, None) == []
    with pytest.raises(InvalidArgument):
        await world.accounts.profile("Straße", None)
    with pytest.raises(Unauthenticated):
        await world.accounts.sign_in("Straße", PASSWORD)


async def test_the_full_view_of_a_batch_has_counts_and_relationships(world: World) -> None:
    ada = await world.accounts.register("ada", PASSWORD, "")
    bob = await world.accounts.register("bob", PASSWORD, "")
    world.social.follows |= {(ada.id, bob.id)}
    basic = await world.accounts.get_many([bob.id], View.BASIC, _caller(ada))
    assert (basic[0].counts, basic[0].relationship) == (Counts(), None)
    full = await world.accounts.get_many([bob.id, ada.id], View.FULL, _caller(ada))
    assert [(p.counts, p.relationship) for p in full] == [
        (Counts(follower_count=1), Relationship(caller_follows=True, follows_caller=False)),
        (Counts(following_count=1), None),
    ]


async def test_batches_are_limited_to_100(world: World) -> None:
    with pytest.raises(InvalidArgument) as error:
        await world.accounts.get_many(list(range(1, 102)), View.BASIC, None)
    assert error.value.violations == (FieldViolation("ids", "at most 100 per call"),)
    with pytest.raises(InvalidArgument):
        await world.accounts.get_many_by_username(["a"] * 101, View.BASIC, None)


async def test_all_users_come_in_batches(world: World) -> None:
    registered = {(await world.accounts.register(f"u{i}", PASSWORD, "")).id for i in range(5)}
    batches = [batch async for batch in world.accounts.all_users(2)]
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert {user.id for batch in batches for user in batch} == registered
    with pytest.raises(InvalidArgument):
        _ = [batch async for batch in world.accounts.all_users(1001)]


async def test_deleting_an_account_ends_it_and_its_sessions_and_holds_its_name(
    world: World,
) -> None:
    user = await world.accounts.register("Ada", PASSWORD, "")
    other = await world.accounts.register("bob", PASSWORD, "")
    await world.posts.hit(str(user.id))
    await world.posts.hit(str(other.id))
    await world.accounts.delete_account(_caller(user), PASSWORD)
    assert dict(world.posts.counts) == {str(other.id): 1}  # its usage counters dropped
    assert "ada" not in world.sign_ins.counts
    assert list(world.store.users) == [other.id]
    assert user.id not in world.store.hashes
    assert world.store.events[-1] == ("users.deleted", user, ())
    deleted_at = NOW.replace(microsecond=123000)
    assert world.store.quarantined == {"ada": deleted_at + QUARANTINE}
    assert world.revocations.until == {user.id: deleted_at + Tokens.ttl}
    assert user.id not in world.cache.users
    assert "ada" not in world.cache.ids
    with pytest.raises(NotFound):
        await world.accounts.profile("ada", None)
    with pytest.raises(AlreadyExists, match="the username 'ADA' is taken"):
        await world.accounts.register("ADA", PASSWORD, "")
    with pytest.raises(Unauthenticated, match="does not exist"):  # a token that slipped through
        await world.accounts.delete_account(_caller(user), PASSWORD)


@pytest.mark.parametrize(
    ("password", "rule"),
    [("", "is required to delete the account"), ("wrong", "does not match")],
)
async def test_deleting_needs_the_password_again(world: World, password: str, rule: str) -> None:
    user = await world.accounts.register("ada", PASSWORD, "")
    with pytest.raises(InvalidArgument) as refused:
        await world.accounts.delete_account(_caller(user), password)
    assert [(v.field, rule in v.description) for v in refused.value.violations] == [
        ("password", True)
    ]
    assert user.id in world.store.users
    assert world.revocations.until == {}


async def test_wrong_passwords_on_deletion_count_as_sign_in_attempts(world: World) -> None:
    user = await world.accounts.register("ada", PASSWORD, "")
    for _ in range(SIGN_INS.requests):
        with pytest.raises(InvalidArgument):
            await world.accounts.delete_account(_caller(user), "wrong")
    with pytest.raises(ResourceExhausted):
        await world.accounts.delete_account(_caller(user), PASSWORD)
    assert user.id in world.store.users


async def test_revocations_are_written_again_from_the_store(world: World) -> None:
    user = await world.accounts.register("ada", PASSWORD, "")
    await world.accounts.delete_account(_caller(user), PASSWORD)
    world.revocations.until.clear()  # Redis lost them
    await world.accounts.reassert_revocations()
    assert (
        world.revocations.until
        == world.store.revoked
        == {user.id: NOW.replace(microsecond=123000) + Tokens.ttl}
    )
