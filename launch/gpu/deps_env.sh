# shellcheck shell=bash
# Source this (". launch/gpu/deps_env.sh [ROOT]") to use the dependencies that
# unpack_deps.sh laid out in ROOT (default: <repo>/.deps/root) from any directory.
# Sets PATH, LD_LIBRARY_PATH, CMAKE_PREFIX_PATH, HDF5_ROOT and what a relocated
# Debian Open MPI needs (OPAL_PREFIX, PMIX_INSTALL_PREFIX), and the Open MPI settings
# for one node without ssh: shared-memory transport only, no ssh launcher.
_elbo_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ELBO_DEPS_ROOT=${1:-${ELBO_DEPS_ROOT:-$_elbo_repo/.deps/root}}
if [[ ! -d $ELBO_DEPS_ROOT/lib-gap ]]; then
  echo "deps_env: $ELBO_DEPS_ROOT is not an unpacked prefix (run launch/gpu/unpack_deps.sh first)" >&2
  return 1
fi
export ELBO_DEPS_ROOT
_elbo_lib=$ELBO_DEPS_ROOT/usr/lib/x86_64-linux-gnu

export PATH=$ELBO_DEPS_ROOT/usr/bin:$PATH
export LD_LIBRARY_PATH=$ELBO_DEPS_ROOT/lib-gap${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CMAKE_PREFIX_PATH=$ELBO_DEPS_ROOT/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
# FindHDF5 without the h5cc wrapper (whose link line wants static libs and -lcurl -lcrypto
# dev links): searching HDF5_ROOT alone finds Debian's serial layout (lib/ -> ., include/).
export HDF5_ROOT=$_elbo_lib/hdf5/serial

# Open MPI was configured with prefix /usr; OPAL_PREFIX moves every ${prefix}-relative
# directory (components, help files, wrapper data) into the unpacked tree. PMIx keeps its
# own prefix.
export OPAL_PREFIX=$ELBO_DEPS_ROOT/usr
export PMIX_INSTALL_PREFIX=$_elbo_lib/pmix2
# One node: the ssh launcher is never used, but Open MPI refuses to start when the agent
# it names is missing, and the GPU image has no ssh; 'false' exists everywhere.
export OMPI_MCA_plm_rsh_agent=${OMPI_MCA_plm_rsh_agent:-false}
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1}
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader}
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset _elbo_repo _elbo_lib
