#!/usr/bin/env bash
# Unpacks the .deb files that fetch_deps.sh downloaded into a prefix (never into /)
# and makes that prefix usable from wherever it lies:
#   1. dpkg -x every .deb into ROOT (no maintainer scripts run);
#   2. recreates what the maintainer scripts would have made: Debian "alternatives"
#      (mpirun, mpicc, libopenblas.so, libpsm_infinipath.so.1, ...);
#   3. re-points absolute symlinks (/usr/..., /lib/...) into ROOT, or to the system's
#      library of the same SONAME when the package that owned the target was not fetched;
#   4. fills ROOT/lib-gap with a link for every shared library the system lacks (by
#      SONAME), so LD_LIBRARY_PATH=ROOT/lib-gap adds only what is missing and never
#      shadows a newer system library with an older Debian one (ELBO_GAP_ALL=1 links
#      every library: fetch_deps.sh uses that to check the package set is complete);
#   5. checks with ldd that the MPI, HDF5, oneDNN, BLAS, PNG and yaml-cpp libraries and the MPI
#      programs resolve every dependency (and every symbol version) inside
#      ROOT/lib-gap + the system; a library the system has in too old a version is
#      replaced by ours, and anything still missing fails the script.
#
# usage: unpack_deps.sh DEB_DIR ROOT
set -euo pipefail

DEBS=${1:?usage: unpack_deps.sh DEB_DIR ROOT}
ROOT=${2:?usage: unpack_deps.sh DEB_DIR ROOT}
ARCH=x86_64-linux-gnu  # the .debs are amd64 (fetch_deps.sh downloads for amd64 only)

shopt -s nullglob
debs=("$DEBS"/*.deb)
if ((${#debs[@]} == 0)); then
  echo "unpack_deps: no .deb files in $DEBS (run launch/gpu/fetch_deps.sh on a machine with apt first)" >&2
  exit 1
fi
case "$ROOT" in /|/usr|/usr/*) echo "unpack_deps: refusing to unpack into $ROOT" >&2; exit 1;; esac
for tool in dpkg readelf ldd ldconfig; do
  command -v "$tool" >/dev/null || { echo "unpack_deps: '$tool' is needed but not on PATH" >&2; exit 1; }
done

rm -rf "$ROOT"
mkdir -p "$ROOT"
ROOT=$(cd "$ROOT" && pwd)
for deb in "${debs[@]}"; do dpkg -x "$deb" "$ROOT"; done
echo "unpack_deps: unpacked ${#debs[@]} packages into $ROOT"

LIB=$ROOT/usr/lib/$ARCH

# ---- 2. alternatives (update-alternatives runs in postinst, which dpkg -x skips) ----
alt() {  # alt LINK TARGET(relative to LINK's directory): only when the target exists
  local link=$1 target=$2
  if [[ -e "$(dirname "$link")/$target" ]]; then ln -sfn "$target" "$link"; fi
}
for prog in mpirun mpiexec mpicc mpicxx mpic++ mpiCC; do alt "$ROOT/usr/bin/$prog" "$prog.openmpi"; done
for so in libopenblas.so libopenblas.so.0 libblas.so libblas.so.3 liblapack.so liblapack.so.3 libcblas.so; do
  alt "$LIB/$so" "openblas-pthread/$so"
done
for f in "$ROOT"/usr/lib/libpsm1/libpsm_infinipath.so.1*; do alt "$LIB/libpsm_infinipath.so.1" "../libpsm1/$(basename "$f")"; done

# ---- 3. absolute symlinks ----
system_lib_dirs=("/lib/$ARCH" "/usr/lib/$ARCH" /lib64 /usr/lib64)
while IFS= read -r -d '' link; do
  target=$(readlink "$link")
  [[ $target == /* ]] || continue
  if [[ -e "$ROOT$target" || -L "$ROOT$target" ]]; then
    ln -sfn "$ROOT$target" "$link"
    continue
  fi
  # A development link (libz.so -> /lib/.../libz.so.1.2.13) whose runtime package is part
  # of every system: point it at the system's copy of the same SONAME (libz.so.1).
  base=$(basename "$target")
  if [[ $base =~ ^(.*\.so\.[0-9]+) ]]; then
    soname=${BASH_REMATCH[1]}
    for dir in "${system_lib_dirs[@]}"; do
      if [[ -e "$dir/$soname" ]]; then ln -sfn "$dir/$soname" "$link"; continue 2; fi
    done
  fi
  echo "unpack_deps: note: dangling link ${link#"$ROOT"} -> $target" >&2
done < <(find "$ROOT" -type l -print0)

# ---- 4. lib-gap: one link per SONAME the system does not provide ----
GAP=$ROOT/lib-gap
mkdir -p "$GAP"
declare -A ours  # SONAME -> our file
while IFS= read -r -d '' f; do
  soname=$(readelf -d "$f" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  [[ -n $soname && -z ${ours[$soname]:-} ]] && ours[$soname]=$f
done < <(find "$ROOT" -path "$GAP" -prune -o -type f -name 'lib*.so*' -print0)
system_sonames=$(ldconfig -p | awk '/x86-64/ {print $1}' | sort -u)
added=0
for soname in "${!ours[@]}"; do
  if [[ ${ELBO_GAP_ALL:-0} == 1 ]] || ! grep -qxF "$soname" <<<"$system_sonames"; then
    ln -sfn "${ours[$soname]}" "$GAP/$soname"
    added=$((added + 1))
  fi
done
echo "unpack_deps: lib-gap holds $added libraries the system lacks (of ${#ours[@]} unpacked)"

# ---- 5. resolve everything that elbo and mpirun load ----
check_targets=()
for f in "$ROOT"/usr/bin/{orterun,orted,opal_wrapper,ompi_info}; do [[ -e $f ]] && check_targets+=("$f"); done
for so in libmpi.so.40 libhdf5_serial.so.103 libyaml-cpp.so.0.7 libdnnl.so.2 libpng16.so.16 libopenblas.so.0; do
  f=$(find "$ROOT" -path "$GAP" -prune -o -name "$so" -print -quit)
  if [[ -z $f ]]; then echo "unpack_deps: $so is missing from the packages" >&2; exit 1; fi
  check_targets+=("$f")
done
# Open MPI's components are dlopen()ed by mpirun and MPI_Init: their dependencies must load too.
while IFS= read -r -d '' f; do check_targets+=("$f"); done < <(find "$LIB/openmpi/lib/openmpi3" "$LIB/pmix2/lib/pmix" -name '*.so' -print0 2>/dev/null)

# Components that need hardware software this prefix deliberately leaves out (CUDA-aware
# smcuda needs libcuda from the driver) are allowed to miss exactly those libraries.
optional_missing='libcuda\.so|libnvidia-ml\.so'

for _ in 1 2 3; do
  missing=$(for f in "${check_targets[@]}"; do
              LD_LIBRARY_PATH=$GAP${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} ldd "$f" 2>&1 | sed "s|^|$f: |"
            done | grep -E 'not found' | grep -vE "$optional_missing" || true)
  [[ -z $missing ]] && break
  # "version `X' not found": the system has the SONAME but too old; use ours for it.
  fixed=0
  while IFS= read -r line; do
    if [[ $line =~ :\ ([^:]+\.so[.0-9]*):\ version ]]; then
      soname=$(basename "${BASH_REMATCH[1]}")
    elif [[ $line =~ ([^[:space:]]+\.so[.0-9]*)\ =\>\ not\ found ]]; then
      soname=${BASH_REMATCH[1]}
    else
      continue
    fi
    if [[ -n ${ours[$soname]:-} && ! -e $GAP/$soname ]]; then
      ln -sfn "${ours[$soname]}" "$GAP/$soname"
      fixed=1
    fi
  done <<<"$missing"
  ((fixed)) || break
done
if [[ -n $missing ]]; then
  echo "unpack_deps: unresolved dependencies (add the packages that provide them to fetch_deps.sh):" >&2
  sort -u <<<"$missing" | head -40 >&2
  exit 1
fi
printf '%s\n' "${check_targets[@]}" >"$ROOT/checked-files.txt"  # for fetch_deps.sh's stricter check
echo "unpack_deps: ${#check_targets[@]} libraries and programs resolve inside $GAP + the system"
