#!/usr/bin/env bash
# Markdown report of what a change did to the pipeline's params, metrics and figures,
# against a base revision (default HEAD). Run after `dvc repro`, inside the venv:
#   scripts/artifact-diff.sh origin/main > artifact-diff.md
# CI posts it on pull requests; .ci/run runs it against HEAD.
set -euo pipefail
BASE=${1:-HEAD}
echo "# Pipeline artifacts vs \`$BASE\`"
echo
echo "## Params"
dvc params diff "$BASE" --md || echo "(params diff failed)"
echo
echo "## Metrics"
dvc metrics diff "$BASE" --md --precision 4 || echo "(metrics diff failed)"
echo
echo "## Plots"
if dvc plots diff "$BASE" --out dvc_plots >/dev/null 2>&1; then
  echo "Rendered to \`dvc_plots/index.html\` (figures: \`dvc_plots/static/\`)."
  changed=$(git diff --name-only "$BASE" -- reports 2>/dev/null | grep -E '\.(png|csv|md|json)$' || true)
  if [ -n "$changed" ]; then echo; echo "Changed report files:"; echo "$changed" | sed 's/^/- /'; fi
else
  echo "(no plots to diff)"
fi
