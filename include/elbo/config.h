// The typed configuration of a run, loaded from YAML and validated.
// Every key is documented in docs/config.md. Unknown keys, wrong types and
// out-of-range values are errors naming the key and the YAML line; any key can be
// overridden on the command line with --set section.key=value.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace elbo {

struct RunConfig {
  std::string dir = "runs/default";  // run directory: checkpoints, metrics, samples
  uint64_t seed = 1234;
};

struct DataConfig {
  std::string train;                   // path of a shard set's manifest.yaml
  std::string test;                    // optional; evaluation data
  std::string valid;                   // optional; validation data (train.valid_every)
  std::string binarize = "none";       // none | dynamic | threshold
  float threshold = 0.5f;              // for binarize: threshold
  bool scale = true;                   // uint8 images -> [0,1]
  int64_t memory_budget_mb = 512;      // loader memory per rank (cache + prefetch)
  int prefetch_batches = 4;
};

struct ModelConfig {
  std::string type = "mlp_vae";        // model registry name: mlp_vae | conv_vae | hvae
  std::vector<int> hidden = {512, 256};  // mlp_vae: widths of the hidden layers
  std::vector<int> channels = {32, 64};  // conv_vae: channels of the encoder's convolutions
  std::vector<int> strides = {2, 2};     // conv_vae: their strides (1 or 2)
  int latent = 32;
  std::string activation = "relu";     // relu | tanh | leaky_relu | elu | sigmoid | swish (= silu) | softplus | gelu
  std::string likelihood = "bernoulli";  // bernoulli | gaussian
  bool conditional = false;            // conditional VAE: the image's class feeds encoder and decoder
  int classes = 10;                    // conditional: labels are 0 .. classes-1
  // hvae (last, so that brace initialisers of the keys above keep their meaning):
  std::vector<int> latents = {32, 64};       // each stochastic group's size, top group first
  std::vector<int> group_hidden = {256, 512};  // each group's block width, top group first
  int group_depth = 2;                       // layers per block
  std::string posterior = "merge";           // merge (Ladder VAE) | residual (NVAE)
  std::string prior = "standard";      // mlp_vae, conv_vae: standard (N(0, I)) | vamp (VampPrior)
  int pseudo_inputs = 500;             // vamp: the number of learned pseudo-inputs K
  // hvae's block family (models/hvae_blocks.h): mlp (Ladder VAE) | conv (NVAE / VDVAE
  // residual cells; group_hidden are then channels, latents latent channels)
  std::string group_type = "mlp";
  std::vector<int> group_scale = {4, 2};  // conv: each group's downsampling of the image, top first
  // hvae: every prior's and posterior's log-variance soft-clamped into (-C, C) and each
  // standard deviation floored (nn/variance_bound.h); 0 turns either off
  float logvar_clamp = 10.0f;
  float sigma_floor = 0.01f;
  // likelihood gaussian: a fixed standard deviation of p(x|z) (the decoder then outputs the
  // means only); 0: learned, a log-variance per value
  float gaussian_sigma = 0.0f;
};

struct TrainConfig {
  int64_t global_batch = 128;
  int64_t steps = 0;                   // total optimiser steps; 0: use epochs
  int64_t epochs = 10;
  std::string optimizer = "adam";      // adam | adamw | adamax
  float lr = 1e-3f;
  std::string lr_schedule = "constant";  // constant | cosine | step (optim/lr_schedule.h)
  int64_t lr_warmup_steps = 0;         // linear warm-up from 0 to lr over these steps
  float lr_min = 0.0f;                 // cosine: the rate reached at the last step
  int64_t lr_decay_every = 1000;       // step: steps between decays
  float lr_decay_gamma = 0.5f;         // step: factor of each decay
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  float grad_clip = 0.0f;              // max global gradient norm; 0 = off
  float skip_threshold = 0.0f;         // skip a step whose global gradient norm exceeds this; 0 = off
  std::string nonfinite = "skip";      // skip | stop: a step with NaN/Inf in input, loss or gradients on any rank
  float skip_alarm_share = 0.25f;      // alarm when more than this share of a log interval's steps were skipped
  float ema_decay = 0.0f;              // exponential moving average of the weights (eval, sampling); 0 = off
  std::string objective = "elbo";     // elbo | iwae (train/objective.h)
  int64_t iw_samples = 1;              // iwae: importance samples per image
  float beta = 1.0f;                   // KL weight (beta-VAE)
  int64_t kl_warmup_steps = 0;         // KL weight ramps linearly from 0 to beta
  int64_t kl_cycle_steps = 0;          // cyclical KL annealing: period in steps (0 = off)
  float kl_cycle_ramp = 0.5f;          // share of each cycle spent ramping the KL weight up
  float free_bits = 0.0f;              // floor on each latent dimension's batch-mean KL, nats (0 = off)
  std::string free_bits_per = "dim";   // dim | group (hvae: the floor applies to each group's KL)
  bool kl_balance = false;             // hvae: NVAE's KL balancing between groups while the KL weight ramps up
  float tc_beta = 1.0f;                // beta-TCVAE: weight of the total correlation (1: the plain ELBO)
  int64_t tc_batch = 0;                // beta-TCVAE: images per estimate of q(z) (0: each rank's batch)
  int64_t log_every = 100;
  int64_t checkpoint_every = 1000;     // steps; 0 = only at the end and on signals
  int64_t valid_every = 1000;          // steps between validations on data.valid (0: never)
  int64_t valid_images = 0;            // images per validation (0: all of data.valid)
  double checkpoint_minutes = 10.0;    // also a checkpoint when this much wall time passed since the last; 0 = off
  int keep_checkpoints = 3;
  std::string metrics_format = "jsonl";  // jsonl | csv
  int sample_grid = 8;                 // n x n grid of samples and of reconstructions at the end; 0 = none
  std::string device = "auto";         // auto | cpu | cuda
  std::string precision = "fp32";      // fp32 | tf32 | bf16 (GEMMs; master weights stay FP32)
  bool cuda_graph = true;              // capture the step as a CUDA graph (GPU with NCCL) and replay it
  bool recompute = false;              // gradient checkpointing: residual cells recomputed in backward
};

struct DistConfig {
  std::string backend = "auto";        // auto | mpi | nccl
  double bucket_mb = 4.0;              // gradient bucket size
  double timeout_s = 300.0;            // a collective or step that takes longer aborts every rank
  double peer_timeout_s = 30.0;        // a rank silent this long (frozen) aborts every rank; 0 = off
  int64_t replica_check_every = 1000;  // compare a checksum of every replica's parameters every N steps; 0 = only at checkpoints
  bool zero = false;                   // ZeRO-1: each rank keeps Adam's state for its shard of the parameters only
};

struct EvalConfig {
  int64_t batch = 100;                 // images per evaluation batch
  int64_t iw_samples = 1000;           // k for the importance-weighted NLL estimate (<= 5000)
  int64_t iw_chunk = 500;              // importance samples processed at once
  int64_t max_images = 0;              // 0 = the whole test set
};

struct Config {
  RunConfig run;
  DataConfig data;
  ModelConfig model;
  TrainConfig train;
  DistConfig dist;
  EvalConfig eval;
};

// Loads a YAML file, applies "section.key=value" overrides in order, validates.
// Throws elbo::Error naming the file, key, line and what was expected.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Same, from YAML text; `source` names it in messages.
Config parse_config(const std::string& yaml_text, const std::string& source,
                    const std::vector<std::string>& overrides = {});
// The effective configuration as YAML (every key, defaults included); parse_config
// of this text gives back the same Config.
std::string config_to_yaml(const Config& config);
// Only the model section, the part a checkpoint must match exactly.
std::string model_config_to_yaml(const ModelConfig& model);
// Validation alone (also run by the loaders).
void validate_config(const Config& config, const std::string& source);

}  // namespace elbo
