#!/usr/bin/env bash
# Dev-time check of the HTML report: renders a real report of the sample CNN with headless Chromium
# (Debian package `chromium`) to docs/report.png, the screenshot in the README. Look at it: the bars,
# heat maps, spectra and tables must be readable and match the numbers in the page.
#   apt-get install -y chromium && bash docs/render_report.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --scratch-path .build-rel >/dev/null
bin=.build-rel/release/modelforget
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" apply Samples/cnn.onnx --classes 5,7 --data Samples/digits-train.npz -o "$work/cnn.forget-5-7.onnx" --report "$work/audit.json" --quiet >/dev/null
"$bin" report --original Samples/cnn.onnx --unlearned "$work/cnn.forget-5-7.onnx" --data Samples/digits-test.npz \
    --train Samples/digits-train.npz --classes 5,7 --audit "$work/audit.json" -o "$work/report.html" --quiet
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,2150 \
    --screenshot="$PWD/docs/report.png" "file://$work/report.html" 2>/dev/null
echo "wrote docs/report.png from $work/report.html"
