#!/usr/bin/env bash
# Installs (idempotently) what the CMS's browser test needs and prints its environment:
#   browser_env="$(scripts/browser.sh)" && eval "$browser_env"
# - Debian's chromium and chromium-driver (apt; needs root, as CI is)
# - npm's playwright-core (pinned), into ~/.cache/microfleet/playwright/<version>; it drives the Debian
#   chromium (`executablePath`) and never downloads a browser of its own (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD)
# Prints CHROMIUM_PATH and NODE_PATH (where `require('playwright-core')` finds the package).
set -euo pipefail
playwright_version="${MICROFLEET_PLAYWRIGHT_VERSION:-1.65.1}"
cache="${MICROFLEET_CACHE:-$HOME/.cache/microfleet}"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing chromium and chromium-driver (Debian)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-dejavu-core >&2 \
      || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-dejavu-core >&2; }
  else
    echo "error: chromium and chromium-driver are missing and this is not root: install them (Debian)" >&2
    exit 1
  fi
fi
dir="$cache/playwright/$playwright_version"
if [ ! -f "$dir/node_modules/playwright-core/package.json" ]; then
  echo "installing playwright-core@$playwright_version into $dir (once)" >&2
  mkdir -p "$dir"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$dir" --no-save --no-audit --no-fund --silent \
    "playwright-core@$playwright_version" >&2
fi
echo "export CHROMIUM_PATH=$(command -v chromium)"
echo "export NODE_PATH=$dir/node_modules"
echo "export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1"
