#!/usr/bin/env bash
# Headless Chromium for the web UI's browser test (tests/test_ui_browser.py): Debian's `chromium`
# package, driven by Playwright (PyPI) as the system browser, so nothing downloads a browser build.
# Installed once; a second run only checks that it is there. Prints the browser's path.
set -euo pipefail
find_chromium() { command -v chromium || command -v chromium-browser || true; }
if [ -z "$(find_chromium)" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "chromium is not installed and this is not root: apt-get install chromium" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
find_chromium
