// The subcommands of the `elbo` binary. Each returns the process exit code.
#pragma once

namespace elbo::cli {

int cmd_train(int argc, char** argv);  // elbo train CONFIG [--set k=v]...
int cmd_eval(int argc, char** argv);   // elbo eval CONFIG [--checkpoint FILE] [--set k=v]...
int cmd_data(int argc, char** argv);   // elbo data convert|inspect ...
int cmd_sample(int argc, char** argv); // elbo sample CONFIG [--checkpoint FILE] [--out PNG]
int cmd_devices(int argc, char** argv); // elbo devices [--count cuda]

}  // namespace elbo::cli
