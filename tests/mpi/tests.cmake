# One line per multi-rank test: elbo_mpi_test(<file stem in tests/mpi> <rank counts>...)
elbo_mpi_test(nccl_communicator_test 1 2)
