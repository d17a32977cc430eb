#!/usr/bin/env bash
# Installs what the test suite needs from the system: a Jupyter server (for the real tslab
# kernel tests), redis-server (distributed runs on BullMQ) and Chromium (the docs site's browser
# test, driven by playwright-core; never a downloaded browser build). Idempotent and quick when everything is present. Runs apt only as root; prints
# what to install by hand otherwise.
set -euo pipefail

need=()
# Debian's python3 (/usr/bin), not a pyenv python3 on PATH: only it sees Debian's Python packages.
# The server runs the tslab kernel tests; nbformat validates the example notebooks.
{ [ -x /usr/bin/jupyter ] && /usr/bin/jupyter server --version >/dev/null 2>&1 \
  && /usr/bin/python3 -c 'import nbformat, jupyter_client' >/dev/null 2>&1; } \
  || need+=(jupyter-core jupyter-server python3-nbformat python3-nbconvert jupyter-nbconvert python3-jupyter-client)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# The zone files a test names by path (TZ=/usr/share/zoneinfo/Asia/Tokyo).
[ -f /usr/share/zoneinfo/Asia/Tokyo ] || need+=(tzdata)
[ -x /usr/bin/chromium ] || need+=(chromium)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "cellar tests need these Debian packages: ${need[*]}" >&2
  echo "install them with: sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
  exit 1
fi
echo "installing system packages for the tests: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
  apt-get update >/dev/null
  apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
}
