"""The tweets service: tweets, edits, likes, retweets and replies."""
