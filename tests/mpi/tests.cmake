# One line per multi-rank test: elbo_mpi_test(<file stem in tests/mpi> <rank counts>...)
elbo_mpi_test(nccl_communicator_test 1 2)
elbo_mpi_test(mpi_communicator_test 2 3 4)
elbo_mpi_test(watchdog_test 1)
elbo_mpi_test(peer_heartbeat_test 1 2 3)
elbo_mpi_test(graph_agreement_test 1 2 3)
elbo_mpi_test(shard_collectives_test 1 2 3 4)

# Not in ctest: a manual check that the heartbeat's goodbye is bounded when the next rank has
# already exited (one rank leaves before the other ends, over TCP). Under load, Open MPI's TCP
# transport itself sometimes spins for ever after the forced early exit ("invalid connection
# state"), which makes it flaky as a CI test; the cancelled-Slurm-job row of
# e2e/test_slurm_jobs.sh covers the same path in CI. Run:
#   mpirun -np 2 --mca btl tcp,self --mca orte_allowed_exit_without_sync 1 build/<dir>/tests/heartbeat_peer_gone
add_executable(heartbeat_peer_gone mpi/heartbeat_peer_gone.cc)
target_link_libraries(heartbeat_peer_gone PRIVATE elbo_core)
