"""What every Chirp service shares: settings, logging, errors, auth, interceptors and the server."""
