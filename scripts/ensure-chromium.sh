#!/usr/bin/env bash
# Makes sure Debian's chromium is there for test/api/contract/docs.browser.test.ts (playwright-core drives it and
# downloads no browser of its own). `make test`, `make test-pglite`, `make test-postgres` and .ci/run call it.
#   CHROMIUM_PATH   the binary the browser test launches (default /usr/bin/chromium, where Debian puts it)
#   SKIP_BROWSER=1  neither check nor install it; the browser test then reports itself skipped (refused under CI)
# Present: says nothing. Missing, as root with apt-get: installs it. Otherwise: one line saying what to do.
set -uo pipefail
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ "${SKIP_BROWSER:-}" = 1 ]; then
  if [ -n "${CI:-}" ]; then
    echo "SKIP_BROWSER=1 is refused under CI: CI runs the browser test (unset SKIP_BROWSER)" >&2
    exit 1
  fi
  echo "SKIP_BROWSER=1: chromium is not checked or installed, and the browser test will report itself skipped"
  exit 0
fi

# The install itself is the one every Debian tool of the project uses; this adds only the way out.
"$(dirname "$0")/ensure-package.sh" "$chromium" chromium && exit 0
echo "or set CHROMIUM_PATH to the binary, or run with SKIP_BROWSER=1 to skip the browser test" >&2
exit 1
