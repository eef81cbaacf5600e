#!/usr/bin/env bash
# Run HERE (Debian 12 with apt and the Debian mirror reachable), before a GPU session:
# downloads the .deb packages that the bare GPU machine lacks (Open MPI, serial HDF5,
# yaml-cpp, oneDNN, OpenBLAS, libpng, zlib headers, GoogleTest, and their runtime libraries)
# into .deps/debs/ (ignored by git; carried to the GPU machine, where bootstrap.sh
# unpacks them with dpkg -x).
#
# The set is: the runtime roots below with their Depends closure, plus the -dev
# packages themselves (headers, link symlinks, CMake/wrapper files) without their
# Depends, minus BASE: packages that every Debian/Ubuntu system with a C++ compiler
# already has. The check at the end unpacks the set into a scratch prefix and runs
# ldd on mpirun, orted, the MPI components and the HDF5/BLAS/PNG/yaml-cpp libraries:
# every dependency must resolve inside the prefix or to a file of a BASE package.
#
# usage: launch/gpu/fetch_deps.sh [--no-update]
# env:   ELBO_DEBS_DIR (default <repo>/.deps/debs)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
DEST=${ELBO_DEBS_DIR:-$REPO/.deps/debs}
update=1
for arg in "$@"; do
  case $arg in
    --no-update) update=0 ;;
    *) echo "fetch_deps: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

RUNTIME_ROOTS=(openmpi-bin libopenmpi3 libhdf5-103-1 libyaml-cpp0.7 libdnnl2 libopenblas0-pthread libpng16-16)
# Taken alone: their own Depends pull compilers (gfortran), docs and -dev chains not needed to
# compile and link elbo.
DEV_PACKAGES=(openmpi-common libopenmpi-dev libhdf5-dev libyaml-cpp-dev libdnnl-dev libopenblas-pthread-dev libpng-dev
              zlib1g-dev libgtest-dev)
# On every system that can run nvcc (C/C++ runtime, compression, PAM/SELinux plumbing), or not
# needed: openssh-client (single node: deps_env.sh sets the ssh agent to 'false'),
# libhwloc-plugins (X11/OpenCL/CUDA plugins of hwloc), ibverbs-providers (InfiniBand drivers).
BASE=(libc6 libgcc-s1 libstdc++6 zlib1g libzstd1 liblzma5 libbz2-1.0 libcrypt1 libselinux1 libpcre2-8-0
      libacl1 libattr1 libaudit1 libaudit-common libcap-ng0 libcap2 libtinfo6 libgmp10 libdb5.3 debconf dpkg
      perl-base adduser passwd debianutils tar install-info libpam0g libpam-modules libpam-modules-bin
      libsemanage2 libsemanage-common libsepol2 gcc-12-base libc-bin
      openssh-client libhwloc-plugins ibverbs-providers)

for tool in apt-get apt-cache dpkg; do
  command -v "$tool" >/dev/null || { echo "fetch_deps: '$tool' is needed (run this on Debian 12)" >&2; exit 1; }
done
if ((update)); then apt-get update -qq; fi

is_base() { local p; for p in "${BASE[@]}"; do [[ $p == "$1" ]] && return 0; done; return 1; }

# Depends + Pre-Depends of one package, first alternative of each "a | b" group, real packages only.
direct_depends() {
  apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "$1" 2>/dev/null |
    awk 'BEGIN { alt = 0 }
         /^ / && $1 ~ /^\|?(Pre)?Depends:$/ { if (!alt && $2 !~ /^</) print $2; alt = ($1 ~ /^\|/) }'
}

declare -A chosen=()
queue=("${RUNTIME_ROOTS[@]}")
while ((${#queue[@]})); do
  p=${queue[0]}
  queue=("${queue[@]:1}")
  [[ -n ${chosen[$p]:-} ]] && continue
  is_base "$p" && continue
  chosen[$p]=1
  while IFS= read -r dep; do queue+=("$dep"); done < <(direct_depends "$p")
done
for p in "${DEV_PACKAGES[@]}"; do chosen[$p]=1; done
mapfile -t packages < <(printf '%s\n' "${!chosen[@]}" | sort)
echo "fetch_deps: ${#packages[@]} packages: ${packages[*]}"

mkdir -p "$DEST"
rm -f "$DEST"/*.deb
(cd "$DEST" && apt-get download -o APT::Architecture=amd64 "${packages[@]}")

# ---- completeness check ----
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
ELBO_GAP_ALL=1 bash "$REPO/launch/gpu/unpack_deps.sh" "$DEST" "$scratch/root" >"$scratch/unpack.log" 2>&1 || {
  cat "$scratch/unpack.log" >&2
  exit 1
}
declare -A owner_ok=()
bad=0
while IFS= read -r f; do
  while IFS= read -r dep; do
    [[ $dep == "$scratch"/root/* ]] && continue
    real=$(readlink -f "$dep")
    if [[ -z ${owner_ok[$real]:-} ]]; then
      # dpkg knows a file by the path its package shipped (/lib/... or /usr/lib/...).
      pkg=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "/usr$real" 2>/dev/null || true)
      pkg=${pkg%%:*}
      if [[ -n $pkg ]] && is_base "$pkg"; then owner_ok[$real]=1; else owner_ok[$real]="${pkg:-no package}"; fi
    fi
    if [[ ${owner_ok[$real]} != 1 ]]; then
      echo "fetch_deps: ${f#"$scratch"/root} needs $dep from ${owner_ok[$real]}, which is neither fetched nor in BASE" >&2
      bad=1
    fi
  done < <(LD_LIBRARY_PATH=$scratch/root/lib-gap ldd "$f" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }')
done <"$scratch/root/checked-files.txt"
((bad == 0)) || exit 1

echo "fetch_deps: complete: $(wc -l <"$scratch/root/checked-files.txt") libraries and programs resolve inside the" \
     "prefix or to BASE packages"
echo "fetch_deps: $(find "$DEST" -name '*.deb' | wc -l) packages, $(du -sh "$DEST" | cut -f1) in $DEST"
