// Every account has one node, found by its Snowflake id.
CREATE CONSTRAINT user_id_unique IF NOT EXISTS FOR (u:User) REQUIRE u.id IS UNIQUE;
// Migrations applied to this database, by version.
CREATE CONSTRAINT schema_migration_version_unique IF NOT EXISTS FOR (m:SchemaMigration) REQUIRE m.version IS UNIQUE;
// Follow edges are paged newest first by their creation time.
CREATE INDEX follows_create_time IF NOT EXISTS FOR ()-[f:FOLLOWS]-() ON (f.create_time);
