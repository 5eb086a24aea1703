#!/usr/bin/env bash
# Installs one of Debian's packages that a test needs, once: nothing is done when its program is
# there already. tests/debian-package.sh PACKAGE PROGRAM WHY
#   chromium /usr/bin/chromium: the timeline page opened headless
#   neovim /usr/bin/nvim: `runbook lsp` used from a real editor
set -euo pipefail
package=$1 program=$2 why=$3
if [ -x "$program" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "$0: $program is needed ($why), and there is no apt-get to install Debian's $package" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
echo "installing Debian's $package for $why" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$package" >/dev/null
