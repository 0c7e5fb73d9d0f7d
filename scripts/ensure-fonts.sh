#!/usr/bin/env bash
# Best effort: a CJK font so the reports' charts can print Chinese unit names.
# Without one the charts fall back to unit codes (the report says so); nothing fails.
if command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh 2>/dev/null | head -n1)" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "ensure-fonts: installing fonts-noto-cjk for the charts (once)"
  (apt-get install -y -q fonts-noto-cjk >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && \
    apt-get install -y -q fonts-noto-cjk >/dev/null 2>&1; }) || echo "ensure-fonts: not installed; charts use unit codes"
  rm -rf "${HOME}/.cache/matplotlib" 2>/dev/null
fi
exit 0
