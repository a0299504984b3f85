# Meridian Auto Finance assistant. `make run` starts everything; `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

APP_PY := .venv/app/bin/python
RASA_PY := .venv/rasa/bin/python
RASA := .venv/rasa/bin/rasa
MODEL := models/meridian.tar.gz
TRAINING_INPUTS := $(shell find data -type f -name '*.yml' 2>/dev/null) domain.yml config.yml rasa_ext/intent_classifier.py \
                   rasa_ext/sentence_encoder.py rasa_ext/crf_entity_extractor.py

export PYTHONPATH := $(CURDIR)
export RASA_TELEMETRY_ENABLED := false
# The rasa commands run here get the values the Rasa YAML files read from autofinance/config.py,
# the one place that reads the environment (make run's launcher gives its services the same):
# yours where set, else their defaults. Given per command, not exported, so tests that start
# services on other ports do not inherit them. `$(APP_PY) -m autofinance.config rasa-env` prints them.
RASA_YAML_ENV := $(APP_PY) -m autofinance.config rasa-env --

.PHONY: bench help run test eval eval-conversations envs db train shell test-unit test-integration test-rasa test-e2e validate lock clean
.PHONY: test-scale test-security
.PHONY: web-assets

help:
	@echo "make run    start the assistant (Rasa :5005, actions :5055, web :8080)"
	@echo "make test   run every test"
	@echo "make shell  talk to the assistant in the terminal (while 'make run' is running)"
	@echo "make train  retrain the model if data/, domain.yml or config.yml changed"
	@echo "make bench  latency, throughput and memory vs. the stock rasa init assistant -> reports/bench/"
	@echo "make eval   measure understanding: own held-out split + external set -> reports/eval/"
	@echo "make lock   re-resolve requirements/*.in into the lock files"

envs: web-assets
	@scripts/ensure-venv.sh app requirements/app.lock
	@scripts/ensure-venv.sh rasa requirements/rasa.lock
	@scripts/ensure-venv.sh tools requirements/tools.lock
	@scripts/ensure-sentence-model.sh

# The chat widget's browser assets (the socket.io client), from package-lock.json into
# node_modules/; the web app serves them from there. Skipped while the lock is what they were
# installed from (as scripts/ensure-venv.sh does for the venvs).
web-assets:
	@want="$$(sha256sum package-lock.json | cut -d' ' -f1)"; \
	if [ -f node_modules/socket.io-client/dist/socket.io.min.js ] \
	   && [ "$$(cat node_modules/.lock.sha256 2>/dev/null)" = "$$want" ]; then exit 0; fi; \
	if ! command -v npm > /dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	    echo "==> installing npm for the chat widget's assets (first time only)"; \
	    apt-get update -qq > /dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm > /dev/null; \
	  else echo "npm is needed for the chat widget's assets: install Node.js and npm" >&2; exit 1; fi; \
	fi; \
	echo "==> installing the chat widget's assets into node_modules/ from package-lock.json"; \
	npm ci --no-audit --no-fund --loglevel=error; \
	echo "$$want" > node_modules/.lock.sha256

db: envs
	@$(APP_PY) -m autofinance seed

# Trained only when the training data, domain or config changed since the last model.
$(MODEL): $(TRAINING_INPUTS) | envs
	@echo "==> training the model (data, domain or config changed)"
	@$(RASA) train --fixed-model-name meridian --out models
	@touch $(MODEL)

train: envs $(MODEL)

run: envs db $(MODEL)
	@$(APP_PY) -m autofinance.entrypoints.stack

shell: envs $(MODEL)
	@$(RASA_YAML_ENV) $(RASA) shell --model $(MODEL) --endpoints endpoints.yml --port 5006

validate: envs
	@echo "==> rasa data validate"
	@$(RASA_YAML_ENV) $(RASA) data validate --quiet

test-unit: envs
	@echo "==> unit tests"
	@$(APP_PY) -m pytest tests/unit tests/actions tests/web

test-integration: envs
	@echo "==> integration tests (SQLite, PostgreSQL, Redis, RabbitMQ)"
	@$(APP_PY) -m pytest tests/integration

test-rasa: envs $(MODEL)
	@echo "==> conversation tests on the current model"
	@rm -rf results/conversations
	@$(RASA_YAML_ENV) $(RASA) test core --e2e --stories tests/conversations --model $(MODEL) --endpoints endpoints.yml \
		--fail-on-prediction-errors --out results/conversations --no-plot

test-e2e: envs $(MODEL)
	@scripts/ensure-chromium.sh
	@echo "==> end-to-end tests (running services, the console in headless Chromium)"
	@$(APP_PY) -m pytest tests/e2e

# The adversarial suite: attacks on every channel and door of the running stack, each asserting
# that nothing was disclosed or changed, and a scan of every store afterwards.
test-security: envs $(MODEL)
	@echo "==> adversarial suite (attacks on the running services; stores scanned afterwards)"
	@$(APP_PY) -m pytest tests/security

# Two Rasa replicas and two action servers behind HAProxy on the production profile (PostgreSQL,
# Redis, RabbitMQ), and the compose / k8s files checked against them. Without HAProxy (or a
# store) those tests report themselves skipped with the reason.
test-scale: envs $(MODEL)
	@scripts/ensure-haproxy.sh || echo "    the scale-out tests that need HAProxy will be skipped" >&2
	@echo "==> scale-out tests (2 Rasa replicas, 2 action servers, HAProxy; deployment files)"
	@$(APP_PY) -m pytest tests/scale

# Each dependency stopped, restarted and slowed under load on the production profile, scaled out:
# every message answered or apologised for, nothing lost or doubled -> reports/faults/report.md.
test-faults: envs $(MODEL)
	@scripts/ensure-haproxy.sh
	@echo "==> fault injection (PostgreSQL, Redis, RabbitMQ, an action server, a Rasa replica, the web app)"
	@$(APP_PY) -m pytest tests/faults

test: test-unit test-integration validate test-rasa test-e2e test-security test-scale test-faults
	@echo "==> all tests passed"

# Our assistant and the stock `rasa init` one under the same load: reports/bench/report.md.
bench: envs $(MODEL)
	@$(APP_PY) -m bench

eval: envs $(MODEL)
	@$(RASA_PY) evaluation/nlu_eval.py
	@$(MAKE) --no-print-directory eval-conversations

# Conversation-level evaluation: evaluation/conversations/scenarios/*.yml played against the
# embedded stack -> reports/eval/conversations.md (+ .json). Exits 0 whatever the results;
# ARGS="--only ID" or ARGS="--flow FLOW" narrows the run.
eval-conversations: envs $(MODEL)
	@echo "==> conversation evaluation (scenarios against the running stack)"
	@$(APP_PY) -m evaluation.conversations $(ARGS)

lock:
	@scripts/lock.sh

clean:
	rm -rf .venv node_modules models results reports .rasa var .pytest_cache
