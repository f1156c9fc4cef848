#!/usr/bin/env bash
# Installs berth for the GitHub Action (action.yml) into "$RUNNER_TEMP/berth/bin".
#
# Where the action's own ref is a release (v1.2.3, or a moving v1 / v1.2 tag whose source says
# version 1.2.x), this downloads that release's binary for the runner's OS and architecture and
# checks its sha256 against the release's sha256sums.txt; a wrong checksum fails the step. Where
# there is no release binary (a branch, a commit, a fork without releases, `uses: ./`, an
# unknown platform), it builds the action's own source with `cargo install --locked`.
#
# Environment: ACTION_REF and ACTION_REPOSITORY (github.action_ref / github.action_repository,
# passed through the step's `env:`, the only way they reach a composite action's script),
# GITHUB_ACTION_PATH, RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP. BERTH_ACTION_RELEASES_URL replaces
# https://github.com/OWNER/REPO/releases/download (tests, mirrors).
# Runs on Linux, macOS and Windows (Git Bash) runners.
set -euo pipefail

action_path=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}
temp=${RUNNER_TEMP:?RUNNER_TEMP is not set}
if command -v cygpath >/dev/null 2>&1; then
  # Git Bash on Windows: D:\a\_temp -> /d/a/_temp
  action_path=$(cygpath -u "$action_path")
  temp=$(cygpath -u "$temp")
fi
root="$temp/berth"
bin="$root/bin"
ref=${ACTION_REF:-}
repo=${ACTION_REPOSITORY:-}

# A runner that left the expressions empty still names the action in its path:
# .../_actions/OWNER/REPO/REF.
if [[ -z "$ref" || -z "$repo" ]]; then
  if [[ "$action_path" =~ /_actions/([^/]+)/([^/]+)/(.+)$ ]]; then
    repo="${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"
    ref=${BASH_REMATCH[3]}
  fi
fi

exe=""
case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
  Linux/X64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ;;
  macOS/X64) target=x86_64-apple-darwin ;;
  macOS/ARM64) target=aarch64-apple-darwin ;;
  # Windows on Arm runs x64 binaries.
  Windows/X64 | Windows/ARM64) target=x86_64-pc-windows-msvc exe=.exe ;;
  *) target="" ;;
esac
asset="berth-$target$exe"

# The release tag for the action's ref, or nothing.
version=$(awk -F '"' '/^version *=/ { print $2; exit }' "$action_path/Cargo.toml")
tag=""
if [[ "$ref" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then
  tag=$ref
elif [[ "$ref" =~ ^v[0-9]+(\.[0-9]+)?$ && "v$version" == "$ref".* ]]; then
  tag="v$version"
fi

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  else
    shasum -a 256 "$1" | cut -d ' ' -f 1
  fi
}

# fetch URL FILE: prints the HTTP status (000 when there was no answer).
fetch() {
  curl --silent --show-error --location --proto-redir '=https' \
    --retry 3 --retry-delay 2 --connect-timeout 20 --max-time 300 \
    --output "$2" --write-out '%{http_code}' "$1" || true
}

install_release() {
  local base="${BERTH_ACTION_RELEASES_URL:-https://github.com/$repo/releases/download}"
  local dir code expected actual
  dir=$(mktemp -d "$temp/berth-download.XXXXXX") || return 1
  code=$(fetch "$base/$tag/sha256sums.txt" "$dir/sha256sums.txt")
  if [[ "$code" != 200 ]]; then
    echo "berth: no release $tag of $repo to download (HTTP $code for sha256sums.txt)"
    return 1
  fi
  expected=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print tolower($1) }' "$dir/sha256sums.txt")
  if [[ -z "$expected" ]]; then
    echo "berth: release $tag has no $asset"
    return 1
  fi
  code=$(fetch "$base/$tag/$asset" "$dir/$asset")
  if [[ "$code" != 200 ]]; then
    echo "::warning title=berth install::downloading $asset of release $tag answered HTTP $code; building from source instead"
    return 1
  fi
  actual=$(sha256 "$dir/$asset")
  if [[ "$actual" != "$expected" ]]; then
    echo "::error title=berth install::$asset of release $tag has sha256 $actual, but sha256sums.txt says $expected"
    exit 1
  fi
  if ! { mkdir -p "$bin" && mv -f "$dir/$asset" "$bin/berth$exe" && chmod +x "$bin/berth$exe"; }; then
    echo "::warning title=berth install::could not put $asset into $bin; building from source instead"
    return 1
  fi
  rm -rf "$dir"
  echo "berth: installed $asset of release $tag (sha256 $actual)"
}

install_source() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "::error title=berth install::no release binary for ref '${ref:-(local)}' on ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}, and no cargo to build berth from source; install a Rust toolchain first (e.g. dtolnay/rust-toolchain) or use a release tag"
    exit 1
  fi
  echo "::group::Building berth from source (cargo install --locked)"
  cargo install --locked --force --path "$action_path" --root "$root"
  echo "::endgroup::"
}

# A second use of the action in the same job reuses what the first installed.
wanted="release $tag $asset"
if [[ -z "$tag" || -z "$target" || -z "$repo" ]]; then
  wanted="source $action_path"
fi
if [[ -f "$root/installed" && "$(cat "$root/installed")" == "$wanted" && -x "$bin/berth$exe" ]]; then
  echo "berth: already installed ($wanted)"
elif [[ "$wanted" == release* ]] && install_release; then
  echo "$wanted" >"$root/installed"
else
  if [[ "$wanted" == release* ]]; then
    echo "berth: building from source instead"
  else
    echo "berth: ref '${ref:-(local)}' of '${repo:-this repository}' is not a release tag (or ${RUNNER_OS:-?}/${RUNNER_ARCH:-?} has no release binary); building from source"
  fi
  install_source
  mkdir -p "$root"
  echo "$wanted" >"$root/installed"
fi
"$bin/berth$exe" --version
