#!/usr/bin/env bash
# Runs every fuzz target of the module for a bounded time each.
#   FUZZTIME=5s hardening/fuzz.sh            # all targets, 5 s each (default)
#   FUZZTIME=60s hardening/fuzz.sh ./evidence/...   # only these packages
# Targets are found with `go test -list '^Fuzz'`; each runs alone
# (-fuzz '^Name$'), after the package's seed corpus (f.Add and
# testdata/fuzz/) passed as a plain test. A crash fails the script and
# leaves the failing input in the package's testdata/fuzz/ for a commit.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-5s}
pkgs=("$@")
[ ${#pkgs[@]} -eq 0 ] && pkgs=(./...)
total=0
failed=()
for pkg in $(go list "${pkgs[@]}"); do
	targets=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	[ -z "$targets" ] && continue
	for t in $targets; do
		total=$((total + 1))
		start=$(date +%s)
		out=$(go test "$pkg" -run '^$' -fuzz "^${t}\$" -fuzztime "$FUZZTIME" 2>&1) && rc=0 || rc=$?
		# The fuzzing engine sometimes stops a worker at the deadline and
		# reports "context deadline exceeded" with no failing input: run once
		# more. A real failure writes its input ("Failing input written to").
		if [ $rc -ne 0 ] && ! grep -q 'Failing input written to' <<<"$out" && grep -q 'context deadline exceeded' <<<"$out"; then
			echo "note: $pkg $t stopped at the deadline without a failing input; running it again" >&2
			out=$(go test "$pkg" -run '^$' -fuzz "^${t}\$" -fuzztime "$FUZZTIME" 2>&1) && rc=0 || rc=$?
		fi
		execs=$(printf '%s\n' "$out" | grep -o 'execs: [0-9]*' | tail -1 | cut -d' ' -f2 || true)
		if [ $rc -ne 0 ]; then
			failed+=("$pkg $t")
			printf '%s\n' "$out" | tail -30
			printf 'FAIL %-55s %-28s %ss\n' "$pkg" "$t" "$(( $(date +%s) - start ))"
		else
			printf 'ok   %-55s %-28s %ss %s execs\n' "$pkg" "$t" "$(( $(date +%s) - start ))" "${execs:-?}"
		fi
	done
done
echo "fuzz: $((total - ${#failed[@]})) passed, ${#failed[@]} failed ($total targets, $FUZZTIME each)"
[ ${#failed[@]} -eq 0 ]
