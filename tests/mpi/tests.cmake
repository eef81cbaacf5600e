# One line per multi-rank test: elbo_mpi_test(<file stem in tests/mpi> <rank counts>...)
