"""The local stack: installs what is missing, starts and stops every real server Chirp uses.

Stdlib only at import time, so ``python3 -m devstack install`` runs before the virtualenv exists.
"""
