#!/usr/bin/env bash
# Write assets/plots.html: the page `dvc plots show|diff` fills (.dvc/config plots.html_template),
# with Vega, Vega-Lite and Vega-Embed inlined, so the SFT loss curves render offline (DVC's
# own page loads them from a CDN). The versions are the ones DVC's renderer links; their
# BSD-3-Clause licences go to assets/vega/. Needs npm (fetches three tarballs); run again
# only to change versions:
#   scripts/vendor-vega.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VERSIONS=(vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack -q "${VERSIONS[@]}" >/dev/null)
mkdir -p assets/vega
out=assets/plots.html
{
  cat <<'HEAD'
<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>ReasonMed plots</title>
<style>body { font-family: sans-serif; } table { border-spacing: 15px; } img { max-width: 640px; }</style>
HEAD
  for v in "${VERSIONS[@]}"; do
    name=${v%@*}
    mkdir -p "$tmp/$name" && tar xzf "$tmp/$name-${v#*@}.tgz" -C "$tmp/$name"
    cp "$tmp/$name/package/LICENSE" "assets/vega/LICENSE.$name"
    echo "<!-- $v (BSD-3-Clause, assets/vega/LICENSE.$name), inlined by scripts/vendor-vega.sh -->"
    echo "<script>"
    cat "$tmp/$name/package/build/$name.min.js"
    echo
    echo "</script>"
  done
  cat <<'TAIL'
</head>
<body>
{plot_divs}
</body>
</html>
TAIL
} > "$out"
echo "wrote $out ($(wc -c < "$out") bytes)"
