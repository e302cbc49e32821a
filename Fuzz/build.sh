#!/usr/bin/env bash
# Builds the fuzz targets (libFuzzer + ASan) into ../.build-fuzz/$FUZZ_CONFIG (release by default:
# optimized code keeps every precondition and overflow check, and runs 1.5-4x more inputs per second
# than debug under ASan; the C targets, among them the JPEG shim, get ASan too); retries when a source of the main package changes during the build.
set -uo pipefail
cd "$(dirname "$0")"
export PATH=/opt/swift/usr/bin:$PATH
for attempt in 1 2 3 4 5; do
    out=$(swift build -c "${FUZZ_CONFIG:-release}" --scratch-path ../.build-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xcc -fsanitize=address "$@" 2>&1)
    rc=$?
    if [ $rc -eq 0 ]; then echo "fuzz targets built in .build-fuzz/${FUZZ_CONFIG:-release}"; exit 0; fi
    if grep -q "was modified during the build" <<<"$out"; then sleep 5; continue; fi
    grep -v "Cannot export local symbol" <<<"$out" | grep -v "^\[" >&2
    exit $rc
done
echo "build kept racing with edits to the main package; try again" >&2
exit 1
