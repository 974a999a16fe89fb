"""The timelines service: home timelines and fanout."""
