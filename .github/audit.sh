#!/usr/bin/env bash
# `make audit`: the versions uv.lock pins (every extra and group, for this Python; not cauce
# itself) checked against PyPI's advisory database. It fails, saying why, on a known
# vulnerability, and also when the database could not be asked (offline, blocked, a mirror
# without PyPI's JSON API): an audit that checked nothing is not a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
ignore_file=.github/audit-ignore.txt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

unexplained=$(awk '!/^#/ && NF == 1 { print $1 }' "$ignore_file")
if [ -n "$unexplained" ]; then
  echo "make audit: $ignore_file ignores $unexplained without saying why" >&2
  exit 1
fi
mapfile -t ignores < <(awk '!/^#/ && NF { print "--ignore-vuln=" $1 }' "$ignore_file")

"${UV:-uv}" export --frozen --all-extras --all-groups --no-emit-project --quiet \
  --format requirements-txt --output-file "$work/requirements.txt" || exit 1
# Hashed requirements let pip-audit take the locked versions as they are, without pip;
# --strict fails on a package the database does not answer for instead of skipping it.
pip-audit --requirement "$work/requirements.txt" --disable-pip --strict \
  --progress-spinner off "${ignores[@]}" 2> "$work/log"
status=$?
if [ "$status" -eq 0 ] || grep -q '^Found [0-9]* known vulnerabilit' "$work/log"; then
  cat "$work/log" >&2
  exit "$status"
fi
# The database did not answer: a package it has no entry for (--strict), a connection
# refused, timed out or blocked by a proxy, a name that does not resolve, an HTTP error.
lookup_failed='could not (be )?audit|Dependency not found|Could not connect|not redirecting'
lookup_failed+='|ConnectionError|ProxyError|ConnectTimeout|ReadTimeout|Max retries exceeded'
lookup_failed+='|NewConnectionError|Failed to establish|Name or service not known'
lookup_failed+='|Temporary failure in name resolution|SSLError|ServiceError|HTTPError'
if grep -Eq "$lookup_failed" "$work/log"; then
  tail -n 1 "$work/log" >&2
  echo "make audit: could not audit: the advisory database (PyPI's JSON API, or OSV with" \
    "PIP_AUDIT_VULNERABILITY_SERVICE=osv) did not answer for every package (the line above" \
    "names one), so the audit is incomplete and does not pass" >&2
  exit 1
fi
# Anything else (a bad option, an unreadable requirements file, a crash) is pip-audit's
# own failure: its last lines say what it was, and this is not blamed on the network.
tail -n 5 "$work/log" >&2
echo "make audit: pip-audit failed (exit $status): see its last lines above" >&2
exit "$status"
