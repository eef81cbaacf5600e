// SIGTERM / SIGINT / SIGUSR1 (Slurm preemption, scancel, the time-limit warning, Ctrl-C,
// mpirun forwarding) set a flag; the trainer agrees on it across ranks at the end of every
// step, checkpoints and exits 0. A second signal during that shutdown is also just recorded.
//
// Those signals never run on a thread that computes. oneDNN 2.6's JIT f32 GEMM kernels
// (AVX-512 and AVX2) point the stack pointer into a heap workspace while they run
// (oneDNN issue 4845, fixed in later releases): a signal handled on such a thread has its
// frame written by the kernel over the heap, and the process later aborts with "corrupted
// size vs. prev_size" (seen here in about one stop signal in seven). So the ranks block the
// stop signals in every thread they start and leave them to one listener thread that does
// nothing else.
#pragma once

namespace elbo {

// Blocks SIGTERM, SIGINT and SIGUSR1 in the calling thread (and so in every thread it
// starts afterwards) and starts the listener thread that receives them. Call once, early,
// before any computing thread exists (run_on_ranks does, right after MPI_Init). Until
// install_stop_signal_handlers() the signals keep their default action: they end the
// process.
void keep_stop_signals_off_compute_threads();
void install_stop_signal_handlers();
// Every command starts with this: output to a closed pipe (srun after scancel, `| head`)
// fails quietly instead of ending the process with SIGPIPE.
void ignore_broken_pipes();
bool stop_signal_received();
int last_stop_signal();  // 0 when none
// "SIGINT", "SIGTERM", "SIGUSR1", or "a signal": for messages.
const char* stop_signal_name(int sig);
// Sends sig to this process as kill(1) from outside would (fault injection). For a stop
// signal with the handlers installed it returns once the handler has recorded it, so the
// injected fault acts at the step it was asked for.
void signal_self(int sig);

}  // namespace elbo
