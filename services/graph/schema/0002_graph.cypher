// Who to follow for someone following nobody: the most followed accounts, read off this index.
CREATE INDEX user_follower_count IF NOT EXISTS FOR (u:User) ON (u.follower_count);
// The graph service's transactional outbox: one node per event not yet published.
CREATE CONSTRAINT outbox_event_id_unique IF NOT EXISTS FOR (e:OutboxEvent) REQUIRE e.event_id IS UNIQUE;
// The relay publishes outbox events oldest first.
CREATE INDEX outbox_event_create_time IF NOT EXISTS FOR (e:OutboxEvent) ON (e.create_time);
