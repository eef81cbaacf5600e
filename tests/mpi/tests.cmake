# One line per multi-rank test: elbo_mpi_test(<file stem in tests/mpi> <rank counts>...)
elbo_mpi_test(nccl_communicator_test 1 2)
elbo_mpi_test(mpi_communicator_test 2 3 4)
