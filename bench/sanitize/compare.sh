#!/bin/sh
# Side by side in one run: gumbo parse alone, portcullis parse + sanitize,
# and DOMPurify on jsdom, on the same inputs and allowlists. Prints medians
# of CPU time per pass (µs) and the ratios. Run from the repository root
# after building bench_html_sanitizer:
#
#     cmake -S . -B build && make -C build -j2 bench_html_sanitizer
#     bench/sanitize/compare.sh [repetitions]
set -eu
reps="${1:-10}"
here="$(cd "$(dirname "$0")" && pwd)"
build="${PORTCULLIS_BUILD_DIR:-$here/../../build}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$here/node" && npm ci --no-audit --no-fund --silent)
"$build/bench/bench_html_sanitizer" --benchmark_repetitions="$reps" \
  --benchmark_report_aggregates_only=true --benchmark_format=json >"$tmp/cpp.json"
node "$here/node/bench.mjs" "$reps" >"$tmp/node.json"

python3 - "$tmp/cpp.json" "$tmp/node.json" <<'PY'
import json, sys
cpp = json.load(open(sys.argv[1]))
node = json.load(open(sys.argv[2]))
med = {b["run_name"]: b["cpu_time"] for b in cpp["benchmarks"]
       if b.get("aggregate_name") == "median"}
print(f"host: {cpp['context'].get('host_name', '?')}, {cpp['context']['num_cpus']} cpus, "
      f"load {cpp['context'].get('load_avg', '?')}")
print(f"{'input':8} {'preset':10} {'gumbo parse':>12} {'portcullis':>12} {'+%':>6} "
      f"{'DOMPurify':>12} {'DOMPurify/portcullis':>21}")
for name in ("readme", "large", "xss"):
    parse = med[f"gumbo_parse/{name}"]
    for preset in ("rich_text", "strict"):
        ours = med[f"sanitize_{preset}/{name}"]
        theirs = node[f"dompurify_{preset}/{name}"]["median_cpu_us"]
        print(f"{name:8} {preset:10} {parse:12.1f} {ours:12.1f} {100 * (ours / parse - 1):5.0f}% "
              f"{theirs:12.1f} {theirs / ours:20.1f}x")
print("(medians of CPU time per pass, microseconds; a pass of xss is all 223 payloads)")
PY
