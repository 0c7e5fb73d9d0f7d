#!/usr/bin/env bash
# Install the outside tools the tests drive, from Debian's packages, when they are missing.
# Each line of TOOLS is "command-or-file package": the package is installed when the command is
# not on PATH (or the file does not exist). Needs root (CI runs as root) or passwordless sudo;
# otherwise it says exactly what to install and fails.
set -u

TOOLS=(
  # libfaketime: scripts/at-shanghai-time.sh runs suites at another hour of the day
  "/usr/bin/faketime faketime"
  # the console's browser tests drive Debian's Chromium with Playwright (never a downloaded browser)
  "/usr/bin/chromium chromium"
  # Chinese text in the browser tests' screenshots (and the reports' charts)
  "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc fonts-noto-cjk"
)

missing=()
for line in "${TOOLS[@]}"; do
  probe=${line% *}; package=${line##* }
  if [[ $probe == /* ]]; then [ -e "$probe" ] && continue; else command -v "$probe" >/dev/null && continue; fi
  missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then as_root=(sudo -n); else
    echo "ensure-tools: missing ${missing[*]}; install them: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
echo "ensure-tools: installing ${missing[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/suqiu-ensure-tools.log 2>&1; then
  "${as_root[@]}" apt-get update >>/tmp/suqiu-ensure-tools.log 2>&1
  "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >>/tmp/suqiu-ensure-tools.log 2>&1 || {
    echo "ensure-tools: apt-get could not install ${missing[*]}; see /tmp/suqiu-ensure-tools.log" >&2
    exit 1
  }
fi
