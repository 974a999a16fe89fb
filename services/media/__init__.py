"""The media service: photo uploads."""
