"""The graph service: the social graph on Neo4j."""
