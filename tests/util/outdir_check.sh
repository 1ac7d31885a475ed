# Shared by the shell tests (source it): checks on every output directory a test makes.
#
#   check_outputs ROOT [DIR...]
# checks every directory under ROOT that holds profs_edit.json (an edited model),
# and each DIR given, for:
#  - the weight-glob rule: no top-level file ends in .safetensors, .bin, .pt or .pth
#    unless it is model.safetensors (no index) or listed in model.safetensors.index.json
#    (vLLM and SGLang load every top-level *.safetensors of a directory without an index);
#  - an edited model keeps its edit at profs/edit.safetensors (exact), profs_edit.json at the top;
#  - README.md and profs_edit.json record no absolute path (file names and SHA-256 only).
# Prints "ok outputs-checked N" or one FAIL line per problem; returns 1 on any failure.
check_outputs() {
  local root=$1; shift
  local dirs bad=0 n=0 d f listed
  dirs=$( { find "$root" -name profs_edit.json -not -path '*/.*profs-tmp-*' -printf '%h\n'; printf '%s\n' "$@"; } | sort -u)
  while IFS= read -r d; do
    [ -n "$d" ] && [ -d "$d" ] || continue
    n=$((n + 1))
    for f in "$d"/*.safetensors "$d"/*.bin "$d"/*.pt "$d"/*.pth; do
      [ -e "$f" ] || continue
      f=${f##*/}
      if [ -f "$d/model.safetensors.index.json" ]; then
        listed=$(jq -r --arg f "$f" '[.weight_map[] | select(. == $f)] | length' "$d/model.safetensors.index.json")
        [ "$listed" -gt 0 ] || { echo "FAIL outputs: $d/$f is a top-level weight file not in the index"; bad=1; }
      elif [ "$f" != model.safetensors ]; then
        echo "FAIL outputs: $d/$f would be loaded as weights by a '*.safetensors' glob"; bad=1
      fi
    done
    if [ -f "$d/profs_edit.json" ]; then
      [ -s "$d/profs/edit.safetensors" ] || { echo "FAIL outputs: $d has profs_edit.json but no profs/edit.safetensors"; bad=1; }
      [ "$(jq -r .edit_file "$d/profs_edit.json")" = profs/edit.safetensors ] ||
        { echo "FAIL outputs: $d/profs_edit.json edit_file is $(jq -c .edit_file "$d/profs_edit.json")"; bad=1; }
      for f in README.md profs_edit.json; do
        [ -f "$d/$f" ] || continue
        if grep -qE '(^|[^A-Za-z0-9_.:/~-])/(home|root|tmp|var|work|usr|mnt|srv|opt|Users)/' "$d/$f"; then
          echo "FAIL outputs: $d/$f records an absolute path: $(grep -oE '/(home|root|tmp|var|work|usr|mnt|srv|opt|Users)/[^" ]*' "$d/$f" | head -1)"; bad=1
        fi
      done
    fi
  done <<<"$dirs"
  [ $bad = 0 ] && echo "ok outputs-checked $n"
  return $bad
}
