"""The users service: accounts, sessions and profiles."""
