#!/usr/bin/env bash
# Installs Debian's Chromium, which one end-to-end test opens a run's timeline page in (headless),
# to prove the page renders. Once: nothing is done when /usr/bin/chromium is there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "tests/browser/setup.sh: Chromium is needed at /usr/bin/chromium, and there is no apt-get to install it" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
echo "installing Chromium (Debian's package) for the timeline's browser test" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
