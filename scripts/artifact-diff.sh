#!/usr/bin/env bash
# Markdown report of what a change did to the pipeline's params, metrics and figures,
# against a base revision (default HEAD). Run after `dvc repro`, inside the venv:
#   scripts/artifact-diff.sh origin/main > artifact-diff.md
# CI posts it on pull requests; .ci/run runs it against HEAD. A base this clone lacks, or any
# failing dvc command, ends it non-zero: a report of empty diffs would read as "no change".
set -euo pipefail
BASE=${1:-HEAD}
if ! git rev-parse --verify --quiet "$BASE^{commit}" >/dev/null; then
  echo "artifact-diff: base revision '$BASE' is not in this clone; run \`git fetch origin\`" \
       "(for origin/...) or name a local branch or HEAD (make diff BASE=HEAD)" >&2
  exit 2
fi
echo "# Pipeline artifacts vs \`$BASE\`"
echo
echo "## Params"
dvc params diff "$BASE" --md
echo
echo "## Metrics"
dvc metrics diff "$BASE" --md --precision 4
echo
echo "## Plots"
# dvc prints the page's file:// address when it rendered one, nothing when no plot is defined
rendered=$(dvc plots diff "$BASE" --out dvc_plots)
if [[ $rendered == *index.html* ]]; then
  echo "Rendered to \`dvc_plots/index.html\` (figures: \`dvc_plots/static/\`)."
  changed=$(git diff --name-only "$BASE" -- reports | grep -E '\.(png|csv|md|json)$' || true)
  if [ -n "$changed" ]; then echo; echo "Changed report files:"; echo "$changed" | sed 's/^/- /'; fi
else
  echo "(no plots to diff)"
fi
