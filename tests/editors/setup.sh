#!/usr/bin/env bash
# Installs Debian's Neovim, which one end-to-end test runs headless with the README's set-up to
# use `runbook lsp` as an editor does. Once: nothing is done when /usr/bin/nvim is there.
set -euo pipefail
if [ -x /usr/bin/nvim ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "tests/editors/setup.sh: Neovim is needed at /usr/bin/nvim, and there is no apt-get to install it" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
echo "installing Neovim (Debian's package) for the language server's editor test" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends neovim >/dev/null
