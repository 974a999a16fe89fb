"""The search service: search and trends on Tantivy."""
