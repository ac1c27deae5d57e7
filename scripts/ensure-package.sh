#!/usr/bin/env bash
# Makes sure a program from Debian's packages is there: `ensure-package.sh /usr/bin/wrk wrk`.
# Present: says nothing. Missing, as root with apt-get: installs the package. Otherwise: one line saying what to do.
set -uo pipefail
binary="$1"
package="$2"

[ -x "$binary" ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "$binary is missing: installing Debian's $package (apt-get install $package)"
  if DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null; then
    [ -x "$binary" ] && exit 0
    echo "apt-get installed $package, but $binary is still missing" >&2
  else
    echo "apt-get could not install $package (see above): install it by hand" >&2
  fi
  exit 1
fi

echo "$binary is missing: install it with \`sudo apt-get install -y $package\`" >&2
exit 1
