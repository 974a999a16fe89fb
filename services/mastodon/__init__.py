"""The Mastodon client API: existing Mastodon apps and libraries against Chirp's services."""
