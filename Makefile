# The two set-up commands of the README:
#   make up     install into .venv, then start the whole system (Ctrl-C stops it)
#   make test   install into .venv (and Alertmanager, Prometheus and HAProxy, from Debian), then run every test
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: up test install alertmanager prometheus haproxy redis

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

up: $(VENV)/.installed
	$(BIN)/alertflow up --config examples/alertflow.yaml --sandbox

alertmanager:
	@command -v prometheus-alertmanager >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq prometheus-alertmanager; }

# The Prometheus tests (tests/e2e/test_prometheus.py) run a real Prometheus of their own; the package's service is never
# started, and its recommends (node exporter and friends) are not needed.
prometheus:
	@command -v prometheus >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus; }

# The failover tests drive a real HAProxy; the package's service is never started (tests run their own).
haproxy:
	@command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq haproxy; }

# The scale-out test (tests/e2e/test_prefect_scaled.py) uses Redis for Prefect's messaging: the machine's own on
# 127.0.0.1:6379, or, if none answers, Debian's redis-server started here (databases 11 and 12 are the test's).
redis: $(VENV)/.installed
	@$(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 6379), 1)" 2>/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  command -v redis-server >/dev/null || { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server; }; \
	  redis-server --daemonize yes --port 6379 --bind 127.0.0.1 --save '' >/dev/null; }

test: $(VENV)/.installed alertmanager prometheus haproxy redis
	$(BIN)/pytest
