// The subcommands of the `elbo` binary. Each gets argv from its own name on, answers
// -h/--help with its usage, every flag and an example, and returns the exit code.
#pragma once

namespace elbo::cli {

int cmd_train(int argc, char** argv);        // elbo train CONFIG [--set k=v]...
int cmd_eval(int argc, char** argv);         // elbo eval [CONFIG] [--checkpoint FILE] [--out FILE]
int cmd_sample(int argc, char** argv);       // elbo sample [CONFIG] [--checkpoint FILE] [--out PNG]
int cmd_reconstruct(int argc, char** argv);  // elbo reconstruct [CONFIG] [--checkpoint FILE] [--out PNG]
int cmd_interpolate(int argc, char** argv);  // elbo interpolate [CONFIG] [--checkpoint FILE] --out PNG
int cmd_encode(int argc, char** argv);       // elbo encode [CONFIG] [--checkpoint FILE] --out FILE.h5
int cmd_score(int argc, char** argv);        // elbo score [CONFIG] [--checkpoint FILE] --out FILE.csv|FILE.h5
int cmd_plot(int argc, char** argv);         // elbo plot RUN_DIR [--out PNG]
int cmd_scaling_plot(int argc, char** argv); // elbo scaling-plot DIR [--out PNG] [--title TEXT]
int cmd_data(int argc, char** argv);         // elbo data convert|inspect ...
int cmd_config(int argc, char** argv);       // elbo config template [MODEL] | check CONFIG
int cmd_devices(int argc, char** argv);      // elbo devices [--count cuda]
int cmd_version(int argc, char** argv);      // elbo version

}  // namespace elbo::cli
