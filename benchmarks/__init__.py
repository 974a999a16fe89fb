"""Benchmarks of Chirp against the real local stack (``make bench``).

Every scenario is measured twice in the same run: against the real service and against a
no-op baseline that runs the same server platform (interceptors, auth, metrics) but does no
work, so the table shows what the service itself costs on this machine today, whatever else
the shared machine is doing.
"""
