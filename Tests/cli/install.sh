#!/usr/bin/env bash
# `make install` into temporary prefixes (PREFIX, and DESTDIR + PREFIX), then the installed binary,
# run from elsewhere with no other model in reach, answers the demo question with the installed
# built-in model (also through a symlink to it); `make uninstall` removes both again.
#   Tests/cli/install.sh                  the real `make install`: a release build first (slow)
#   Tests/cli/install.sh path/to/vidlm    `make install-files VIDLM_BIN=path/to/vidlm`: no build
set -u
repo="$(cd "$(dirname "$0")/../.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0
check() {  # description, then a test command
  local what=$1; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what"; fi
}

if [ $# -ge 1 ]; then
  bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  do_install() { make -C "$repo" --no-print-directory -s install-files VIDLM_BIN="$bin" "$@"; }
else
  do_install() { make -C "$repo" --no-print-directory -s install "$@"; }
fi
do_uninstall() { make -C "$repo" --no-print-directory -s uninstall "$@"; }

demo="the blue square appears, then the triangle changes colour from red to yellow."
clip="$repo/samples/world/sequence.mp4"
mkdir -p "$tmp/home" "$tmp/elsewhere"
# No model but the installed one: not in HOME, the XDG dirs, VIDLM_MODEL or near the current folder.
isolated() { (cd "$tmp/elsewhere" && env -u VIDLM_MODEL -u XDG_DATA_HOME HOME="$tmp/home" XDG_DATA_DIRS="$tmp/none" "$@"); }

do_install PREFIX="$tmp/prefix" >"$tmp/log" 2>&1 || { echo "FAIL: make install PREFIX=$tmp/prefix"; tail -20 "$tmp/log"; exit 1; }
check "binary installed" test -x "$tmp/prefix/bin/vidlm"
check "model installed" test -f "$tmp/prefix/share/vidlm/models/vidlm-shapes/model.safetensors"
check "installed binary answers" test "$(isolated "$tmp/prefix/bin/vidlm" ask "$clip" "what happens" 2>"$tmp/err")" = "$demo"
check "no stderr when it is not a terminal" test ! -s "$tmp/err"
check "--json names the installed model" grep -qF "\"model\" : \"$tmp/prefix/share/vidlm/models/vidlm-shapes\"" \
  <(isolated "$tmp/prefix/bin/vidlm" ask "$clip" "what happens" --json)
mkdir -p "$tmp/home/bin" && ln -s "$tmp/prefix/bin/vidlm" "$tmp/home/bin/vidlm"
check "a symlink to it answers" test "$(isolated "$tmp/home/bin/vidlm" ask "$clip" "what happens" 2>/dev/null)" = "$demo"
do_uninstall PREFIX="$tmp/prefix" >"$tmp/log" 2>&1
check "make uninstall removes binary and model" test ! -e "$tmp/prefix/bin/vidlm" -a ! -e "$tmp/prefix/share/vidlm"

do_install DESTDIR="$tmp/stage" PREFIX=/opt/vidlm >"$tmp/log" 2>&1 || { echo "FAIL: make install DESTDIR=… PREFIX=/opt/vidlm"; tail -20 "$tmp/log"; exit 1; }
check "DESTDIR staging" test -x "$tmp/stage/opt/vidlm/bin/vidlm" -a -f "$tmp/stage/opt/vidlm/share/vidlm/models/vidlm-shapes/config.json"
check "staged binary answers" test "$(isolated "$tmp/stage/opt/vidlm/bin/vidlm" ask "$clip" "what happens" 2>/dev/null)" = "$demo"
do_uninstall DESTDIR="$tmp/stage" PREFIX=/opt/vidlm >"$tmp/log" 2>&1
check "make uninstall with DESTDIR" test ! -e "$tmp/stage/opt/vidlm/bin/vidlm" -a ! -e "$tmp/stage/opt/vidlm/share/vidlm"

echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
