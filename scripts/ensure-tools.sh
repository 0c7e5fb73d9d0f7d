#!/usr/bin/env bash
# Install the outside tools the tests drive, from Debian's packages, when they are missing.
# Each line of TOOLS is "command-or-file package": the package is installed when the command is
# not on PATH (or the file does not exist). Needs root (CI runs as root) or passwordless sudo;
# otherwise it says exactly what to install and fails.
#
# Two tools come another way:
# - promtool (tests/standards/test_prometheus.py: the alert rules and every /metrics): taken from
#   Debian's prometheus package with apt-get download and unpacked into .venv/bin, so that the
#   Prometheus server itself is neither installed nor started;
# - @asyncapi/parser (tests/standards/test_asyncapi.py), pinned in tests/standards/asyncapi/
#   package-lock.json: npm ci there, when node and npm are present.
set -u
cd "$(dirname "$0")/.."

TOOLS=(
  # libfaketime: scripts/at-shanghai-time.sh runs suites at another hour of the day
  "/usr/bin/faketime faketime"
  # the console's browser tests drive Debian's Chromium with Playwright (never a downloaded browser)
  "/usr/bin/chromium chromium"
  # Chinese text in the browser tests' screenshots (and the reports' charts)
  "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc fonts-noto-cjk"
  # tests/ops/test_pgbouncer.py: two replicas of the mesh through PgBouncer in transaction mode
  # (scripts/pgbouncer.py starts one of its own; the package's service is not needed)
  "/usr/sbin/pgbouncer pgbouncer"
)

missing=()
for line in "${TOOLS[@]}"; do
  probe=${line% *}; package=${line##* }
  if [[ $probe == /* ]]; then [ -e "$probe" ] && continue; else command -v "$probe" >/dev/null && continue; fi
  missing+=("$package")
done
status=0
if [ ${#missing[@]} -gt 0 ]; then
  as_root=()
  if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then
    echo "ensure-tools: missing ${missing[*]}; install them: sudo apt-get install -y ${missing[*]}" >&2
    status=1
  else
    [ "$(id -u)" -ne 0 ] && as_root=(sudo -n)
    echo "ensure-tools: installing ${missing[*]} (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    if ! "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/suqiu-ensure-tools.log 2>&1; then
      "${as_root[@]}" apt-get update >>/tmp/suqiu-ensure-tools.log 2>&1
      "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >>/tmp/suqiu-ensure-tools.log 2>&1 || {
        echo "ensure-tools: apt-get could not install ${missing[*]}; see /tmp/suqiu-ensure-tools.log" >&2
        status=1
      }
    fi
  fi
fi

VENV_BIN=.venv/bin

if ! command -v promtool >/dev/null 2>&1 && [ ! -x "$VENV_BIN/promtool" ]; then
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
    [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null 2>&1
    (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1)
  fi
  deb=$(ls "$tmp"/prometheus_*.deb 2>/dev/null | head -n1)
  if [ -n "$deb" ] && dpkg-deb -x "$deb" "$tmp/root" && cp "$tmp/root/usr/bin/promtool" "$VENV_BIN/promtool"; then
    echo "ensure-tools: promtool $("$VENV_BIN/promtool" --version 2>&1 | head -n1 | awk '{print $3}') from Debian's prometheus package"
  else
    echo "ensure-tools: could not get promtool (Debian's prometheus package); install it: apt-get install prometheus" >&2
    status=1
  fi
  rm -rf "$tmp"
fi

parser=tests/standards/asyncapi
if command -v npm >/dev/null 2>&1; then
  if [ ! -f "$parser/node_modules/.installed" ] || [ "$parser/package-lock.json" -nt "$parser/node_modules/.installed" ]; then
    (cd "$parser" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) \
      && touch "$parser/node_modules/.installed" \
      && echo "ensure-tools: @asyncapi/parser installed (npm ci)" \
      || echo "ensure-tools: npm ci failed in $parser" >&2
  fi
else
  echo "ensure-tools: no npm: install node 20 and npm for the AsyncAPI parser test" >&2
fi
exit $status
