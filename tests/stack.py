"""Where the tests find the local stack they run against (``make test`` starts it)."""

#: The local stack's gateway (Envoy).
GATEWAY = "http://127.0.0.1:8080"
#: The same gateway over HTTPS, certified by the local authority (``devstack/tls.py``).
GATEWAY_TLS = "https://localhost:8443"
