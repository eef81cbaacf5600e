// SIGTERM / SIGINT (Slurm preemption, scancel, Ctrl-C, mpirun forwarding) set a flag;
// the trainer agrees on it across ranks at the end of every step, checkpoints and
// exits 0. A second signal during that shutdown is also just recorded.
#pragma once

namespace elbo {

void install_stop_signal_handlers();
bool stop_signal_received();
int last_stop_signal();  // 0 when none
// "SIGINT", "SIGTERM", "SIGUSR1", or "a signal": for messages.
const char* stop_signal_name(int sig);

}  // namespace elbo
