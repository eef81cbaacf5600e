# install_deps GROUP...: installs the Debian packages of the named groups that are
# missing (nothing when all are present). Groups: build, test, data, bench, sanitize, slurm.
install_deps() {
  local pkgs=()
  for group in "$@"; do
    case $group in
      build) pkgs+=(build-essential cmake pkg-config libopenmpi-dev openmpi-bin libhdf5-dev libyaml-cpp-dev
                    libdnnl-dev libopenblas-dev libpng-dev zlib1g-dev libgtest-dev googletest) ;;
      test) pkgs+=(python3 python3-numpy python3-h5py hdf5-tools time procps) ;;
      data) pkgs+=(dataset-fashion-mnist) ;;
      bench) pkgs+=(python3-torch python3-numpy) ;;
      # clang with its sanitizer and libFuzzer runtimes; llvm for llvm-symbolizer (readable reports)
      sanitize) pkgs+=(clang libclang-rt-dev llvm) ;;
      # a Slurm of its own for the Slurm tests (tests/e2e/slurm_cluster.sh): slurmctld, slurmd and
      # the clients; slurm-wlm-basic-plugins has mpi/pmix (srun --mpi=pmix), which loads libpmix2
      slurm) pkgs+=(slurm-wlm slurmctld slurmd slurm-client slurm-wlm-basic-plugins munge libpmix2) ;;
      *) echo "install_deps: unknown group $group" >&2; return 2 ;;
    esac
  done
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
