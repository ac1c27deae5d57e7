# Orders service. `make run` serves it (embedded PGlite unless DATABASE_URL is set); `make test` tests it.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help install run dev build migrate seed generate check-generated typecheck validate-spec lint test test-pglite test-postgres clean

PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/postgres

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.package-lock.json ## Install dependencies from the lockfile

build: install ## Compile TypeScript to dist/
	rm -rf dist
	npx tsc -p tsconfig.build.json

run: build ## Migrate and start the service (PGlite in ./.data unless DATABASE_URL is set)
	node dist/src/server.js

dev: install ## Start from source, restarting on change
	npx tsx watch src/server.ts

migrate: install ## Apply migrations to the configured database
	npx tsx src/cli/migrate.ts

seed: install ## Load the sample services and orders (idempotent)
	npx tsx src/cli/seed.ts

generate: install ## Regenerate generated/ from openapi.yaml
	npx openapi-typescript openapi.yaml -o generated/api.d.ts

check-generated: install ## Fail when generated/ is stale
	@tmp=$$(mktemp -d) && npx openapi-typescript openapi.yaml -o $$tmp/api.d.ts >/dev/null 2>&1 && \
	  if diff -q $$tmp/api.d.ts generated/api.d.ts >/dev/null; then echo "generated/ is up to date"; rm -rf $$tmp; \
	  else echo "generated/ is stale: run make generate" >&2; diff -u generated/api.d.ts $$tmp/api.d.ts | head -40 >&2; rm -rf $$tmp; exit 1; fi

typecheck: install ## Type-check sources and tests
	npx tsc --noEmit -p tsconfig.json

validate-spec: install ## Validate openapi.yaml against the OpenAPI 3.1 schema
	npx validate-api openapi.yaml

lint: validate-spec check-generated typecheck ## All static checks

# *.postgres.test.ts need a Postgres server (they cut its connections, for instance): Postgres run only.
PGLITE_TAP := TEST_DATABASE=pglite npx tap --exclude='test/**/*.postgres.test.ts'

test: install ## Run the suite on embedded PGlite, then on the Postgres server when one is reachable
	$(PGLITE_TAP)
	@if node -e "require('net').connect({host:new URL('$(PG_TEST_URL)').hostname,port:new URL('$(PG_TEST_URL)').port||5432}).on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"; then \
	  TEST_DATABASE=postgres TEST_DATABASE_URL=$(PG_TEST_URL) npx tap; \
	elif [ -n "$$CI" ]; then echo "Postgres at $(PG_TEST_URL) is not reachable; CI requires it" >&2; exit 1; \
	else echo "Postgres at $(PG_TEST_URL) is not reachable: ran the suite on PGlite only"; fi

test-pglite: install ## Run the suite on embedded PGlite only
	$(PGLITE_TAP)

test-postgres: install ## Run the suite on the Postgres server only
	TEST_DATABASE=postgres TEST_DATABASE_URL=$(PG_TEST_URL) npx tap

clean: ## Remove build output and the embedded database
	rm -rf dist .data .tap coverage
