# The verbs a newcomer types. Every target installs what is missing first, so a fresh
# clone needs nothing but `make run` or `make test`.
PYTHON := .venv/bin/python
export PYTHONPATH := $(CURDIR):$(CURDIR)/gen

.PHONY: install run start stop status test test-unit test-cluster test-mtls cluster bench bench-quick gen lint reindex backup restore

install:
	@python3 -m devstack install

## run: start the whole stack (stores, six services, Envoy on localhost:8080) until Ctrl-C
run: install
	@$(PYTHON) -m devstack run

## start: start the whole stack in the background (`make stop` stops it)
start: install
	@$(PYTHON) -m devstack start

stop:
	@if [ -x $(PYTHON) ]; then $(PYTHON) -m devstack stop; fi

## status: health of every component; non-zero if any is unhealthy
status:
	@$(PYTHON) -m devstack status

## test: start what the tests need, run the whole suite, stop what was started
test: install
	@$(PYTHON) -m devstack test -- $(PYTEST_ARGS)

## cluster: production's topology on this machine until Ctrl-C: a 3-node Cassandra ring, a Redis
## Cluster (3 masters, 3 replicas), 3 NATS servers (stream at 3 replicas), 2 processes of every
## service behind Envoy on localhost:8080 (its data in .data-cluster/; `make stop-cluster` after
## `CHIRP_SHAPE=cluster make start`)
cluster: install
	@CHIRP_SHAPE=cluster $(PYTHON) -m devstack run

## test-cluster: bring the cluster topology up, run the end-to-end and cluster tiers against it
## (the chaos test kills a node of every store and a process of every service), stop it
test-cluster: install
	@CHIRP_SHAPE=cluster $(PYTHON) -m devstack test -- -m "e2e or cluster or chaos" tests/e2e tests/cluster $(PYTEST_ARGS)

## test-mtls: the end-to-end tier on the single-node stack with mutual TLS between the gateway
## and the services (CHIRP_MTLS_ENABLED, certificates from .data/tls/); the README's session
## stays in the plain-text run (its grpcurl calls are -plaintext, as a newcomer's are)
test-mtls: install
	@CHIRP_MTLS_ENABLED=true $(PYTHON) -m devstack test -- -m "e2e and not chaos" tests/e2e --ignore=tests/e2e/test_readme.py $(PYTEST_ARGS)

## test-unit: the unit tier alone (pure tests: no server is started or needed), in seconds
test-unit: install
	@$(PYTHON) -m pytest -m unit $(PYTEST_ARGS)

## bench: load the benchmark dataset (once), run every scenario next to its same-run baseline and
## write benchmarks/results/RESULTS.md and plots (~25 min; BENCH_ARGS="--quick" or names: timelines)
bench: install
	@$(PYTHON) -m devstack bench -- $(BENCH_ARGS)

## bench-quick: the same on the small dataset with short runs (a few minutes once it is loaded)
bench-quick: install
	@$(PYTHON) -m devstack bench -- --quick $(BENCH_ARGS)

## backup: copy every store's data of record from the running stack into backups/<time>/ with a
## manifest of checksums (BACKUP_DIR=... to write elsewhere)
backup:
	@$(PYTHON) -m devstack backup $(if $(BACKUP_DIR),--into $(BACKUP_DIR))

## restore: load BACKUP=backups/<time> into an empty stack (`make stop` and move .data away
## first), start it and rebuild the search indexes
restore: install
	@test -n "$(BACKUP)" || { echo "usage: make restore BACKUP=backups/<time>"; exit 2; }
	@$(PYTHON) -m devstack restore $(BACKUP)

## reindex: rebuild the search indexes from the tweets and users stores (the stack must be up)
reindex:
	@$(PYTHON) -m services.search.reindex

## gen: regenerate gen/ (Python stubs) and gateway/chirp.pb (Envoy's descriptor set) from proto/
gen: install
	@$(PYTHON) -m devstack.gen

lint: install
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@.venv/bin/mypy
	@.venv/bin/buf lint
