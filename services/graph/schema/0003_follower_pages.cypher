// A page of an account's followers, newest first, is read off this index in its order: the
// equality on the followee and a range on the rank touch one page's edges, however many
// followers the account has and however deep the page (services/graph/adapters/store.py, follow_rank).
CREATE INDEX follows_followee_rank IF NOT EXISTS FOR ()-[f:FOLLOWS]-() ON (f.followee, f.rank);
// Edges followed before the index: their followee and rank, as follow_rank writes them
// (13-digit creation millisecond, ':', 19-digit follower id), a batch per transaction.
MATCH (a:User)-[f:FOLLOWS]->(b:User)
WHERE f.rank IS NULL
CALL (a, f, b) {
  SET f.followee = b.id,
      f.rank = right('0000000000000' + toString(f.create_time), 13) + ':'
               + right('0000000000000000000' + toString(a.id), 19)
} IN TRANSACTIONS OF 10000 ROWS;
