"""The adapters: the ports of the domain, implemented on real stores and services."""
