# Shortcuts; the test command itself is `bash scripts/test.sh` (see README).
SERVERS_DIR ?= .servers

.PHONY: test bench servers-up servers-down

# The full test run: servers on loopback, gofmt, go vet, go test -race ./...
test:
	bash scripts/test.sh

# Benchmarks against the same servers: go test -run '^$$' -bench . -benchmem ./...
bench:
	bash scripts/test.sh --bench

# Servers for development in $(SERVERS_DIR); then `. $(SERVERS_DIR)/env` and
# plain `go test` finds them. ZKRECIPES_WITH_ENSEMBLE=1 adds the ensemble
# (`. $(SERVERS_DIR)/ensemble.env`).
servers-up:
	bash scripts/servers.sh start $(SERVERS_DIR)
	@if [ "$${ZKRECIPES_WITH_ENSEMBLE:-0}" = 1 ]; then bash scripts/servers.sh start-ensemble $(SERVERS_DIR); fi
	@echo "now run: . $(SERVERS_DIR)/env" >&2

servers-down:
	bash scripts/servers.sh stop $(SERVERS_DIR)
