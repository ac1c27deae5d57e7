# Orders service. `make run` serves it (embedded PGlite unless DATABASE_URL is set); `make test` tests it.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help install run dev build migrate seed generate check-generated typecheck validate-spec lint-spec check-package format format-check eslint lint ensure-chromium ensure-wrk ensure-pgbouncer test test-pglite test-postgres reliability fuzz fuzz-positive soak bench bench-smoke bench-profile bench-explain clean

PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/postgres

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.package-lock.json ## Install dependencies from the lockfile

build: install ## Compile TypeScript to dist/ (with the client's declarations)
	rm -rf dist
	npm run --silent build

# npm start: package.json's start script holds the production command, heap flags included.
run: build ## Migrate and start the service (PGlite in ./.data unless DATABASE_URL is set)
	npm run --silent start

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

# Redocly and Spectral run offline; their rule choices live in redocly.yaml and .spectral.yaml.
REDOCLY := REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx redocly

lint-spec: install ## Lint openapi.yaml (Redocly recommended; Spectral oas + OWASP) and the Arazzo workflows
	$(REDOCLY) lint openapi.yaml test/workflows/*.arazzo.yaml
	npx spectral lint --fail-severity=warn openapi.yaml

check-package: build ## Import the typed client the way a consumer does, through the package's exports
	node --input-type=module -e "import { createOrdersClient } from 'orders-service/client'; \
	  const c = createOrdersClient({ baseUrl: 'http://127.0.0.1:1' }); \
	  if (typeof c.GET !== 'function') process.exit(1); console.log('orders-service/client exports a working client')"
	@test -f dist/src/client.d.ts && test -f dist/generated/api.d.ts && echo "client declarations and generated types are in dist/"

# Prettier owns formatting (prettier.config.js); ESLint owns the shape of the code (eslint.config.js).
PRETTIER_FILES := 'src/**/*.{ts,js}' 'test/**/*.{ts,js}' 'bench/**/*.{ts,js}' 'migrations/**/*.{ts,js}' '*.{ts,js}'

format: install ## Format src, test, bench, migrations and the config files with Prettier
	npx prettier --write --log-level=warn $(PRETTIER_FILES)

format-check: install ## Fail when a file is not formatted the way Prettier would
	npx prettier --check $(PRETTIER_FILES)

eslint: install ## ESLint: folder graph, layers inside a feature, no import cycles, typescript-eslint (no warnings allowed)
	npx eslint --max-warnings=0 .

lint: eslint format-check validate-spec lint-spec check-generated typecheck check-package ## All static checks

# The browser test (test/api/contract/docs.browser.test.ts) drives Debian's chromium: installed here when missing and the
# machine allows it (root, apt-get); otherwise one line says how. SKIP_BROWSER=1 skips that test, which says so.
ensure-wrk: ## Make sure wrk (the benchmark's load driver) is there (installs it as root with apt-get)
	@scripts/ensure-package.sh /usr/bin/wrk wrk

ensure-chromium: ## Make sure chromium is there for the browser test (installs it as root with apt-get)
	@scripts/ensure-chromium.sh

ensure-pgbouncer: ## Make sure PgBouncer is there (the suite runs the multi-process tests through it too; installs it as root with apt-get)
	@scripts/ensure-package.sh /usr/sbin/pgbouncer pgbouncer

# *.postgres.test.ts need a Postgres server (they cut its connections, for instance): Postgres run only.
PGLITE_TAP := TEST_DATABASE=pglite npx tap --exclude='test/**/*.postgres.test.ts'

test: install ensure-chromium ## Run the suite on embedded PGlite, then on the Postgres server when one is reachable
	$(PGLITE_TAP)
	@if node -e "require('net').connect({host:new URL('$(PG_TEST_URL)').hostname,port:new URL('$(PG_TEST_URL)').port||5432}).on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"; then \
	  scripts/ensure-package.sh /usr/sbin/pgbouncer pgbouncer && \
	  TEST_DATABASE=postgres TEST_DATABASE_URL=$(PG_TEST_URL) npx tap --exclude='test/**/*.pglite.test.ts'; \
	elif [ -n "$$CI" ]; then echo "Postgres at $(PG_TEST_URL) is not reachable; CI requires it" >&2; exit 1; \
	else echo "Postgres at $(PG_TEST_URL) is not reachable: ran the suite on PGlite only"; fi

test-pglite: install ensure-chromium ## Run the suite on embedded PGlite only
	$(PGLITE_TAP)

test-postgres: install ensure-chromium ensure-pgbouncer ## Run the suite on the Postgres server only
	TEST_DATABASE=postgres TEST_DATABASE_URL=$(PG_TEST_URL) npx tap --exclude='test/**/*.pglite.test.ts'

reliability: install ensure-pgbouncer ## Many processes, Postgres restarts, kills, fuzzing, slow clients (Postgres server; part of make test)
	TEST_DATABASE=postgres TEST_DATABASE_URL=$(PG_TEST_URL) npx tap 'test/reliability/*.test.ts'

FUZZ_RUNS ?= 20000
fuzz: install ## The property-based fuzz test at FUZZ_RUNS requests (CI runs 2000); FUZZ_SEED=n replays a run
	TEST_DATABASE=postgres TEST_DATABASE_URL=$(PG_TEST_URL) FUZZ_RUNS=$(FUZZ_RUNS) npx tap --timeout=3600 test/reliability/fuzz.postgres.test.ts

POSITIVE_RUNS ?= 50000
fuzz-positive: install ## The contract's positive mode at POSITIVE_RUNS requests on each database (CI runs 5000); POSITIVE_SEED=n replays a run
	POSITIVE_RUNS=$(POSITIVE_RUNS) npx tap --timeout=3600 test/reliability/contract-positive.test.ts
	TEST_DATABASE=postgres TEST_DATABASE_URL=$(PG_TEST_URL) POSITIVE_RUNS=$(POSITIVE_RUNS) npx tap --timeout=3600 test/reliability/contract-positive.test.ts

soak: build ## Mixed load for SOAK_SECONDS (300) against a server process: status counts, p50/p99, RSS over time
	PG_TEST_URL=$(PG_TEST_URL) node --import tsx bench/soak.ts

bench: build ensure-wrk ## Service against the fastest correct ceiling at 10k and 1M orders (Postgres at PG_TEST_URL), driven by wrk; bench/results/latest.md
	PG_TEST_URL=$(PG_TEST_URL) node --import tsx bench/run.ts

bench-smoke: build ensure-wrk ## The benchmark on 200 orders with short runs, so it cannot rot (CI); figures printed, never asserted
	PG_TEST_URL=$(PG_TEST_URL) BENCH_SMOKE=1 BENCH_SECONDS=$${BENCH_SECONDS:-1} node --import tsx bench/run.ts

bench-profile: build ensure-wrk ## node --cpu-prof runs of GET one and create (service and ceiling) and their top frames
	PG_TEST_URL=$(PG_TEST_URL) BENCH_PROFILE=1 node --import tsx bench/run.ts

bench-explain: install ## EXPLAIN ANALYZE of every hot query as the service sends it, on 1M orders (BENCH_SIZE=10k for fewer)
	PG_TEST_URL=$(PG_TEST_URL) node --import tsx bench/explain.ts $${BENCH_SIZE:-1m}

clean: ## Remove build output and the embedded database
	rm -rf dist .data .tap coverage
