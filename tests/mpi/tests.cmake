# One line per multi-rank test: elbo_mpi_test(<file stem in tests/mpi> <rank counts>...)
elbo_mpi_test(nccl_communicator_test 1 2)
elbo_mpi_test(mpi_communicator_test 2 3 4)
elbo_mpi_test(watchdog_test 1)
elbo_mpi_test(peer_heartbeat_test 1 2 3)
elbo_mpi_test(graph_agreement_test 1 2 3)
elbo_mpi_test(shard_collectives_test 1 2 3 4)

# Not a gtest (one rank leaves before the other ends): over TCP, as between nodes.
add_executable(heartbeat_peer_gone mpi/heartbeat_peer_gone.cc)
target_link_libraries(heartbeat_peer_gone PRIVATE elbo_core)
add_test(NAME mpi.heartbeat_peer_gone.np2
         COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 --oversubscribe --mca btl tcp,self --mca orte_allowed_exit_without_sync 1
                 $<TARGET_FILE:heartbeat_peer_gone>)
set_tests_properties(mpi.heartbeat_peer_gone.np2 PROPERTIES ENVIRONMENT "${ELBO_MPIEXEC_ENV}" LABELS mpi
                     TIMEOUT 60 PROCESSORS 2)
