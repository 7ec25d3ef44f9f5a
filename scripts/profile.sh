#!/usr/bin/env bash
# Switch params.yaml to a complete profile (configs/<name>.yaml; `default` is the embedded
# default), without losing edits: params.yaml is overwritten only when it equals one of the
# profiles already; otherwise it is refused, or with FORCE=1 saved to params.yaml.orig first.
#   scripts/profile.sh paper        (make profile P=paper; make profile P=default restores)
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-}
src=configs/${name}.yaml
if [[ -z $name || ! -f $src ]]; then
  echo "usage: make profile P=<name>; profiles: $(cd configs && ls *.yaml | sed 's/\.yaml$//' | tr '\n' ' ')" >&2
  exit 2
fi
if [[ -f params.yaml ]] && ! cmp -s params.yaml "$src"; then
  known=
  for f in configs/*.yaml; do cmp -s params.yaml "$f" && known=$f; done
  if [[ -z $known ]]; then
    if [[ ${FORCE:-0} != 1 ]]; then
      echo "params.yaml holds edits that no profile under configs/ has; not overwriting it." >&2
      echo "Keep them as a profile (cp params.yaml configs/mine.yaml), or rerun with FORCE=1" \
           "(saves params.yaml.orig first)." >&2
      exit 1
    fi
    cp params.yaml params.yaml.orig
    echo "saved your params.yaml as params.yaml.orig" >&2
  fi
fi
cp "$src" params.yaml
echo "params.yaml is now $src ('git diff params.yaml' shows the change;" \
     "'make profile P=default' goes back)" >&2
