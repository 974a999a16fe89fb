"""The Tantivy indexes on disk: one for tweets, one for users.

Each index lives in ``<data_dir>/search/<name>-<generation>/``; ``<name>.current`` names the
generation in use, so a rebuild writes a new generation beside the live one and swaps it in by
replacing that file (a rename, atomic). Leftovers of an interrupted rebuild are deleted at the
next start.

One ``IndexWriter`` per index (Tantivy locks the directory, so a second writer, in this process
or another, fails at start). Writes and commits are serialized by an ``asyncio.Lock`` and run in
a worker thread; searches take the current searcher (a snapshot Tantivy reloads after each
commit), so they never wait for the writer. A page of the newest matches runs on the event
loop (a fraction of a millisecond, less than a thread hop costs); scoring candidates and user
searches run in worker threads.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import tantivy
from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2

from services.platform.background import in_thread
from services.platform.errors import Aborted
from services.platform.usernames import fold
from services.search.model import Candidate
from services.search.query import Clause, Kind, TweetQuery

#: Tweet text: split on anything not a letter or digit, drop tokens over 40 characters (base64
#: blobs, not words), lowercase, fold accents to ASCII, English Snowball stemming. No stop
#: words are removed, so a phrase of common words ("to be or not to be") is still exact.
TEXT_ANALYZER = "chirp_en"
#: Usernames and display names: the same, without stemming (names are not English words).
NAME_ANALYZER = "chirp_name"

#: Clauses matched as one whole (lowercased) term, by field.
_WHOLE_VALUE_FIELDS = {Kind.HASHTAG: "hashtags", Kind.MENTION: "mentions", Kind.AUTHOR: "author"}
#: How many best BM25 matches ``top`` re-ranks with engagement and recency.
TOP_POOL = 1000


def _analyzer(*, stem: bool) -> tantivy.TextAnalyzer:
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
    )
    if stem:
        builder = builder.filter(tantivy.Filter.stemmer("english"))
    return builder.build()


def _tweet_schema() -> tantivy.Schema:
    return (
        tantivy.SchemaBuilder()
        .add_integer_field("id", stored=True, indexed=True, fast=True)
        .add_integer_field("author_id", indexed=True, fast=True)
        .add_text_field("author", tokenizer_name="raw", index_option="basic")
        .add_text_field("text", tokenizer_name=TEXT_ANALYZER)
        .add_text_field("hashtags", tokenizer_name="raw", index_option="basic")
        .add_text_field("mentions", tokenizer_name="raw", index_option="basic")
        .add_text_field("urls", tokenizer_name="raw", index_option="basic")
        .add_integer_field("created", indexed=True, fast=True)
        .add_integer_field("likes", fast=True)
        .add_integer_field("retweets", fast=True)
        .add_integer_field("replies", fast=True)
        .build()
    )


def _user_schema() -> tantivy.Schema:
    return (
        tantivy.SchemaBuilder()
        .add_integer_field("id", stored=True, indexed=True, fast=True)
        .add_text_field("username", tokenizer_name="raw", index_option="basic")
        .add_text_field("name", tokenizer_name=NAME_ANALYZER)
        .add_integer_field("followers", fast=True)
        .build()
    )


@dataclass
class _Generation:
    number: int
    path: Path
    index: tantivy.Index
    writer: tantivy.IndexWriter


class TantivyIndex:
    """One index with its single writer, its generations on disk, and an optional rebuild in
    progress (a *shadow* generation that receives live writes too)."""

    def __init__(
        self,
        root: Path,
        name: str,
        schema: tantivy.Schema,
        *,
        heap_bytes: int = 64_000_000,
        threads: int = 1,
    ) -> None:
        self.schema = schema
        self._root = root
        self._name = name
        self._heap_bytes = heap_bytes
        self._threads = threads
        self._analyzers = {
            TEXT_ANALYZER: _analyzer(stem=True),
            NAME_ANALYZER: _analyzer(stem=False),
        }
        self._lock = asyncio.Lock()
        root.mkdir(parents=True, exist_ok=True)
        self._live = self._open(self._current_number())
        self._shadow: _Generation | None = None
        self._touched: set[int] = set()
        #: During a rebuild, the terms live writes deleted every document of (by field).
        self._deleted_terms: dict[str, set[int]] = {}
        self._remove_others(keep=self._live.number)

    def analyze(self, analyzer: str, text: str) -> list[str]:
        return self._analyzers[analyzer].analyze(text)

    @property
    def path(self) -> Path:
        return self._live.path

    @property
    def _pointer(self) -> Path:
        return self._root / f"{self._name}.current"

    def _current_number(self) -> int:
        try:
            return int(self._pointer.read_text().strip())
        except FileNotFoundError:
            return 1

    def _open(self, number: int) -> _Generation:
        path = self._root / f"{self._name}-{number}"
        path.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(self.schema, path=str(path), reuse=True)
        for name, analyzer in self._analyzers.items():
            index.register_tokenizer(name, analyzer)
        index.config_reader(reload_policy="manual")
        writer = index.writer(self._heap_bytes, self._threads)
        return _Generation(number, path, index, writer)

    def _remove_others(self, keep: int) -> None:
        for path in self._root.glob(f"{self._name}-*"):
            if path.name != f"{self._name}-{keep}":
                shutil.rmtree(path, ignore_errors=True)

    def searcher(self) -> tantivy.Searcher:
        """A snapshot of the index as of its last commit."""
        return self._live.index.searcher()

    async def write(
        self,
        upserts: Sequence[tuple[int, tantivy.Document]],
        deletes: Iterable[int],
        deleted_terms: Iterable[tuple[str, int]] = (),
    ) -> None:
        """Replaces (delete by id, then add) and deletes documents, then deletes every document
        holding one of ``deleted_terms`` (field, value), those just added included; visible
        after ``commit``."""
        upserts, deletes, deleted_terms = list(upserts), list(deletes), list(deleted_terms)
        async with self._lock:
            targets = [self._live] if self._shadow is None else [self._live, self._shadow]
            if self._shadow is not None:
                self._touched.update(deletes)
                self._touched.update(doc_id for doc_id, _ in upserts)
                for field, value in deleted_terms:
                    self._deleted_terms.setdefault(field, set()).add(value)
            await in_thread(_write, [t.writer for t in targets], upserts, deletes, deleted_terms)

    async def commit(self) -> None:
        async with self._lock:
            await in_thread(_commit, self._live)

    async def begin_rebuild(self) -> None:
        """Starts a new generation that live writes also go to; ABORTED if one is running."""
        async with self._lock:
            if self._shadow is not None:
                raise Aborted(f"a rebuild of the {self._name} index is already running")
            number = self._live.number + 1
            shutil.rmtree(self._root / f"{self._name}-{number}", ignore_errors=True)
            self._shadow = await in_thread(self._open, number)
            self._touched = set()
            self._deleted_terms = {}

    async def add_rebuilt(self, documents: Sequence[tuple[int, tantivy.Document]]) -> int:
        """Adds documents read from the source of truth to the rebuild, except those a live
        write touched or deleted by term since the rebuild began (the live write is newer).
        Returns how many."""
        async with self._lock:
            shadow = self._shadow
            if shadow is None:
                raise RuntimeError("no rebuild is running")
            fresh = [
                (i, d)
                for i, d in documents
                if i not in self._touched
                and not any(d.get_first(f) in values for f, values in self._deleted_terms.items())
            ]
            await in_thread(_write, [shadow.writer], fresh, [])
            return len(fresh)

    async def finish_rebuild(self) -> None:
        """Commits the new generation and swaps it in; searches move to it at once."""
        async with self._lock:
            shadow = self._shadow
            if shadow is None:
                raise RuntimeError("no rebuild is running")
            await in_thread(_commit, shadow)
            temporary = self._pointer.with_suffix(".tmp")
            temporary.write_text(f"{shadow.number}\n")
            temporary.replace(self._pointer)
            old, self._live, self._shadow = self._live, shadow, None
            self._touched, self._deleted_terms = set(), {}
        await in_thread(_close, old, remove=True)

    async def abandon_rebuild(self) -> None:
        async with self._lock:
            shadow, self._shadow = self._shadow, None
            self._touched, self._deleted_terms = set(), {}
        if shadow is not None:
            await in_thread(_close, shadow, remove=True)

    async def close(self) -> None:
        await self.abandon_rebuild()
        async with self._lock:
            await in_thread(_close, self._live, remove=False)


def _write(
    writers: Sequence[tantivy.IndexWriter],
    upserts: Sequence[tuple[int, tantivy.Document]],
    deletes: Sequence[int],
    deleted_terms: Sequence[tuple[str, int]] = (),
) -> None:
    for writer in writers:
        for doc_id in deletes:
            writer.delete_documents_by_term("id", doc_id)
        for doc_id, document in upserts:
            writer.delete_documents_by_term("id", doc_id)
            writer.add_document(document)
        for field, value in deleted_terms:  # after the adds: a delete applies to what precedes it
            writer.delete_documents_by_term(field, value)


def _commit(generation: _Generation) -> None:
    generation.writer.commit()
    generation.index.reload()


def _close(generation: _Generation, *, remove: bool) -> None:
    generation.writer.wait_merging_threads()  # consumes the writer: releases the lock
    if remove:
        shutil.rmtree(generation.path, ignore_errors=True)


def tweet_document(tweet: tweet_pb2.Tweet) -> tantivy.Document:
    entities = tweet.entities
    return tantivy.Document(
        id=tweet.id,
        author_id=tweet.author.id,
        author=fold(tweet.author.username),
        text=tweet.text,
        hashtags=[h.tag.lower() for h in entities.hashtags],
        mentions=[fold(m.username) for m in entities.mentions],
        urls=[u.url.lower() for u in entities.urls],
        created=tweet.create_time.ToMilliseconds(),
        likes=tweet.like_count,
        retweets=tweet.retweet_count,
        replies=tweet.reply_count,
    )


class _Searchable:
    """What both indexes do alike: commit, rebuild beside the live index, close."""

    store: TantivyIndex

    async def commit(self) -> None:
        await self.store.commit()

    async def begin_rebuild(self) -> None:
        await self.store.begin_rebuild()

    async def finish_rebuild(self) -> None:
        await self.store.finish_rebuild()

    async def abandon_rebuild(self) -> None:
        await self.store.abandon_rebuild()

    async def close(self) -> None:
        await self.store.close()


class TantivyTweetIndex(_Searchable):
    """Tweets in Tantivy: documents in, structured queries to ids out."""

    def __init__(self, root: Path, *, heap_bytes: int = 64_000_000, threads: int = 1) -> None:
        self.store = TantivyIndex(
            root, "tweets", _tweet_schema(), heap_bytes=heap_bytes, threads=threads
        )

    async def upsert(
        self,
        tweets: Sequence[tweet_pb2.Tweet],
        deletes: Iterable[int] = (),
        authors: Iterable[int] = (),
    ) -> None:
        await self.store.write(
            [(t.id, tweet_document(t)) for t in tweets],
            deletes,
            [("author_id", author_id) for author_id in authors],
        )

    async def mentioning(self, usernames: Iterable[str]) -> list[int]:
        schema = self.store.schema
        query = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Should, tantivy.Query.term_query(schema, "mentions", fold(name)))
                for name in usernames
            ]
        )
        searcher = self.store.searcher()
        return await in_thread(_latest, searcher, query, max(searcher.num_docs, 1))

    async def add_rebuilt(self, tweets: Sequence[tweet_pb2.Tweet]) -> int:
        return await self.store.add_rebuilt([(t.id, tweet_document(t)) for t in tweets])

    def compile(self, query: TweetQuery) -> tantivy.Query:
        """The Tantivy query of a parsed search: required clauses MUST, excluded MUST_NOT."""
        schema = self.store.schema
        parts: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for clause in query.clauses:
            compiled = self._clause(clause)
            if compiled is None:
                continue
            occur = tantivy.Occur.MustNot if clause.excluded else tantivy.Occur.Must
            parts.append((occur, compiled))
        if query.since_ms is not None or query.until_ms is not None:
            created = tantivy.Query.range_query(
                schema,
                "created",
                tantivy.FieldType.Integer,
                query.since_ms,
                query.until_ms,
                include_upper=query.until_ms is None,  # an unbounded side must be inclusive
            )
            parts.append((tantivy.Occur.Must, created))
        if not query.clauses:  # no words at all: every tweet (the public timeline)
            parts.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        return tantivy.Query.boolean_query(parts)

    def _clause(self, clause: Clause) -> tantivy.Query | None:
        """None when an excluded word has nothing indexable (it excludes nothing)."""
        schema = self.store.schema
        field = _WHOLE_VALUE_FIELDS.get(clause.kind)
        if clause.kind is Kind.WORD and clause.value.lower().startswith(("http://", "https://")):
            field = "urls"
        if field is not None:
            return tantivy.Query.term_query(schema, field, clause.value.lower())
        tokens = self.store.analyze(TEXT_ANALYZER, clause.value)
        if not tokens:
            return None if clause.excluded else tantivy.Query.empty_query()
        if len(tokens) == 1:
            return tantivy.Query.term_query(schema, "text", tokens[0])
        return tantivy.Query.phrase_query(schema, "text", list(tokens))

    async def latest(self, query: TweetQuery, before_id: int | None, limit: int) -> list[int]:
        """Ids of matching tweets, newest first, strictly older than ``before_id``."""
        compiled = self.compile(query)
        if before_id is not None:
            older = tantivy.Query.range_query(
                self.store.schema, "id", tantivy.FieldType.Integer, None, before_id,
                include_upper=False,
            )  # fmt: skip
            compiled = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, compiled), (tantivy.Occur.Must, older)]
            )
        # On the event loop, not in a worker thread: a page of the newest matches takes Tantivy
        # about 0.2-0.8 ms at the median on a 1,000,000-tweet index (services/search/README.md),
        # less than the thread hop itself cost (0.68 -> 0.54 ms of CPU a search, 1,530 -> 1,930
        # searches/s on the quick dataset). Scoring candidates (``top``) stays in a thread.
        return _latest(self.store.searcher(), compiled, limit)

    async def candidates(self, query: TweetQuery, pool: int = TOP_POOL) -> list[Candidate]:
        """The ``pool`` best matches by BM25, with their creation time and engagement."""
        return await in_thread(_candidates, self.store.searcher(), self.compile(query), pool)


def _latest(searcher: tantivy.Searcher, query: tantivy.Query, limit: int) -> list[int]:
    hits = searcher.search(query, limit, count=False, order_by_field="id").hits
    return [int(value) for value, _ in hits]


def _candidates(searcher: tantivy.Searcher, query: tantivy.Query, pool: int) -> list[Candidate]:
    hits = searcher.search(query, pool, count=False).hits
    addresses = [address for _, address in hits]
    columns = {
        name: searcher.fast_field_values(name, addresses)
        for name in ("id", "created", "likes", "retweets", "replies")
    }
    return [
        Candidate(
            tweet_id=int(columns["id"][i] or 0),
            relevance=float(score),
            created_ms=int(columns["created"][i] or 0),
            likes=int(columns["likes"][i] or 0),
            retweets=int(columns["retweets"][i] or 0),
            replies=int(columns["replies"][i] or 0),
        )
        for i, (score, _) in enumerate(hits)
    ]


def user_document(user: user_pb2.User, followers: int) -> tantivy.Document:
    return tantivy.Document(
        id=user.id,
        username=fold(user.username),
        # The username's parts count as name words too ("ada_lovelace" is found by "love").
        name=f"{user.username} {user.display_name}",
        followers=followers,
    )


class TantivyUserIndex(_Searchable):
    """Users in Tantivy, searched by username and name-word prefixes, ranked by followers."""

    def __init__(self, root: Path, *, heap_bytes: int = 32_000_000) -> None:
        self.store = TantivyIndex(root, "users", _user_schema(), heap_bytes=heap_bytes)

    async def upsert(
        self, users: Sequence[tuple[user_pb2.User, int]], deletes: Iterable[int] = ()
    ) -> None:
        await self.store.write([(u.id, user_document(u, f)) for u, f in users], deletes)

    async def add_rebuilt(self, users: Sequence[tuple[user_pb2.User, int]]) -> int:
        return await self.store.add_rebuilt([(u.id, user_document(u, f)) for u, f in users])

    async def search(self, words: Sequence[str], limit: int) -> list[int]:
        """Ids of users whose username or a name word starts with each of ``words`` (all must
        match), most followed first; an exact username match of a one-word query comes first."""
        schema = self.store.schema
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for word in words:
            options = [tantivy.Query.phrase_prefix_query(schema, "username", [word.lower()])]
            tokens = self.store.analyze(NAME_ANALYZER, word)
            if tokens:
                options.append(tantivy.Query.phrase_prefix_query(schema, "name", list(tokens)))
            clauses.append(
                (tantivy.Occur.Must, tantivy.Query.boolean_query(
                    [(tantivy.Occur.Should, option) for option in options]
                ))
            )  # fmt: skip
        exact = (
            tantivy.Query.term_query(schema, "username", words[0].lower())
            if len(words) == 1
            else None
        )
        return await in_thread(
            _users, self.store.searcher(), tantivy.Query.boolean_query(clauses), exact, limit
        )


def _users(
    searcher: tantivy.Searcher, query: tantivy.Query, exact: tantivy.Query | None, limit: int
) -> list[int]:
    first: list[int] = []
    if exact is not None:
        first = [int(searcher.doc(a)["id"][0]) for _, a in searcher.search(exact, 1).hits]
    ranked = searcher.search(query, limit + len(first), count=False, order_by_field="followers")
    addresses = [address for _, address in ranked.hits]
    ids = [int(i or 0) for i in searcher.fast_field_values("id", addresses)]
    return (first + [i for i in ids if i not in first])[:limit]
