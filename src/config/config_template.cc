#include "elbo/config_template.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "config_fields.h"
#include "elbo/config.h"
#include "elbo/error.h"

namespace elbo {
namespace {

// One line per key of the table (docs/config.md has the long form). A key added to the
// table without a line here fails tests/unit/test_config_template.cc.
const std::map<std::string, std::string>& descriptions() {
  static const std::map<std::string, std::string> table = {
      {"run.dir", "run folder: checkpoints, metrics, pictures, config.yaml; a run resumes from it"},
      {"run.seed", "seed of every random draw: weights, data order, noise, binarization"},
      {"data.train", "REQUIRED: the training set's manifest.yaml (made by elbo data convert)"},
      {"data.test", "the test set's manifest.yaml (eval, reconstructions); empty: none"},
      {"data.binarize", "dynamic: a fresh Bernoulli draw per visit; threshold: x > data.threshold"},
      {"data.threshold", "cut-off for binarize: threshold, in [0, 1]"},
      {"data.scale", "divide uint8 pixels by 255, giving intensities in [0, 1]"},
      {"data.memory_budget_mb", "loader memory per rank (cached shards and prefetch), MiB"},
      {"data.prefetch_batches", "batches the loader prepares ahead of the training step"},
      {"model.type", "model family"},
      {"model.hidden", "encoder hidden widths, input side first; the decoder mirrors them"},
      {"model.channels", "conv_vae: channels of the encoder's convolutions; the decoder mirrors them"},
      {"model.strides", "conv_vae: the convolutions' strides, 1 or 2 each"},
      {"model.latent", "dimension of the latent variable z"},
      {"model.latents", "hvae: size of each stochastic group, top group first"},
      {"model.group_hidden", "hvae: width of each group's layers, top group first (one per group)"},
      {"model.group_depth", "hvae: layers in each block of the bottom-up and top-down towers"},
      {"model.group_type", "hvae: mlp (Ladder VAE blocks) or conv (residual conv cells at several resolutions)"},
      {"model.group_scale", "hvae conv: each group's downsampling of the image (a power of 2), top group first"},
      {"model.gaussian_sigma", "likelihood gaussian: a fixed standard deviation of p(x|z); 0: learned per value"},
      {"model.logvar_clamp", "hvae: every prior's and posterior's log-variance soft-clamped into (-C, C); 0: off"},
      {"model.sigma_floor", "hvae: added to every prior's and posterior's standard deviation; 0: off"},
      {"model.posterior", "hvae: merge (Ladder VAE, precision-weighted) or residual (NVAE, offsets of the prior)"},
      {"model.activation", "nonlinearity after each hidden layer"},
      {"model.likelihood", "p(x|z): Bernoulli logits per pixel, or Gaussian mean and log-variance"},
      {"model.conditional", "conditional VAE: each image's label (one-hot) feeds encoder and decoder"},
      {"model.classes", "conditional models: labels are 0 .. classes-1"},
      {"model.prior", "standard: N(0, I); vamp: the VampPrior, a mixture of the posteriors of learned pseudo-inputs"},
      {"model.pseudo_inputs", "vamp: the number K of learned pseudo-inputs (mixture components)"},
      {"train.global_batch", "images per step summed over all ranks (a multiple of the rank count)"},
      {"train.steps", "optimizer steps in all; 0: train.epochs decides"},
      {"train.epochs", "passes over data.train, used when train.steps is 0"},
      {"train.optimizer", "adam (weight decay added to the gradient), adamw (decoupled) or adamax (infinity norm)"},
      {"train.lr", "learning rate, > 0"},
      {"train.lr_schedule", "constant, cosine (to train.lr_min at the last step) or step (times lr_decay_gamma)"},
      {"train.lr_warmup_steps", "linear warm-up of the learning rate from 0 over this many steps"},
      {"train.lr_min", "cosine schedule: the learning rate at the last step"},
      {"train.lr_decay_every", "step schedule: steps between decays"},
      {"train.lr_decay_gamma", "step schedule: factor of each decay, in (0, 1]"},
      {"train.valid_every", "steps between validations on data.valid (0: never); the best checkpoint is kept"},
      {"data.valid", "optional validation shard set: its negative ELBO is logged and the best checkpoint kept"},
      {"train.valid_images", "validation images per validation (0: the whole set)"},
      {"train.beta1", "Adam's first-moment decay, in [0, 1)"},
      {"train.beta2", "Adam's second-moment decay, in [0, 1)"},
      {"train.eps", "Adam's denominator epsilon, > 0"},
      {"train.weight_decay", "weight decay (see train.optimizer)"},
      {"train.grad_clip", "maximum global gradient L2 norm; 0: no clipping"},
      {"train.skip_threshold", "skip (on every rank) a step whose global gradient norm exceeds this; 0: never"},
      {"train.nonfinite", "skip: a step with NaN or infinity in some rank's input, loss or gradients is skipped "
                          "on every rank and counted; stop: training stops (the newest checkpoint is kept)"},
      {"train.skip_alarm_share", "alarm when more than this share of the steps between log lines were skipped"},
      {"train.ema_decay", "exponential moving average of the weights, used by eval and sampling; 0: off"},
      {"train.objective", "elbo: the negative ELBO; iwae: the k-sample importance-weighted bound (docs/models.md)"},
      {"train.iw_samples", "iwae: importance samples per training image, k (1: the ELBO)"},
      {"train.beta", "weight of the KL term (beta-VAE); 1: the plain ELBO"},
      {"train.kl_warmup_steps", "the KL weight ramps from 0 to train.beta over this many steps (iwae: the weight of "
                                 "log p(z) - log q(z|x) in the log-weights, from 0 to 1)"},
      {"train.kl_cycle_steps", "cyclical KL annealing: the KL weight ramps up again every this many steps; 0: off"},
      {"train.kl_cycle_ramp", "cyclical KL annealing: share of each cycle spent ramping from 0 to train.beta"},
      {"train.free_bits", "free bits: floor in nats on each latent dimension's batch-mean KL; 0: off"},
      {"train.free_bits_per", "dim: the free-bits floor applies to each latent dimension; group (hvae): to each "
                              "stochastic group's KL"},
      {"train.kl_balance", "hvae: balance the groups' KL weights while the KL weight ramps up (NVAE)"},
      {"train.tc_beta", "beta-TCVAE: the total correlation of q(z) weighs tc_beta instead of 1 in the KL term; "
                        "1: off"},
      {"train.tc_batch", "beta-TCVAE: images per minibatch-weighted estimate of q(z), a divisor of each rank's "
                         "batch (fix it to train alike on any number of ranks); 0: each rank's batch"},
      {"train.log_every", "steps between progress lines and metrics records"},
      {"train.checkpoint_every", "steps between checkpoints; 0: only at the end and on signals"},
      {"train.checkpoint_minutes", "also a checkpoint when this much wall time passed since the last; 0: off"},
      {"train.keep_checkpoints", "newest checkpoints kept in run.dir/checkpoints"},
      {"train.metrics_format", "run.dir/metrics.jsonl or run.dir/metrics.csv"},
      {"train.sample_grid", "n x n grids of samples and reconstructions at the end, n <= 32; 0: none"},
      {"train.device", "auto: a GPU when the build has CUDA and one is visible, else the CPU"},
      {"train.precision", "arithmetic of the layers' matrix products (GPU: fp32, tf32, bf16; CPU: fp32, bf16 on AMX or AVX512-BF16); weights and optimizer stay FP32"},
      {"train.cuda_graph", "replay each step as a CUDA graph (GPU ranks with NCCL)"},
      {"train.recompute", "gradient checkpointing: keep only the residual cells' inputs and outputs for backward "
                          "and recompute the rest there (hvae conv groups); the same results, less memory"},
      {"dist.backend", "gradient all-reduce: auto (NCCL for GPU ranks, else MPI), mpi or nccl"},
      {"dist.bucket_mb", "gradient bucket size in MiB, all-reduced during the backward pass"},
      {"dist.timeout_s", "a step or collective taking longer than this stops every rank"},
      {"dist.peer_timeout_s", "a rank whose heartbeat stops this long (frozen, node lost) stops every rank; 0: off"},
      {"dist.replica_check_every", "steps between replica checksum comparisons; 0: at checkpoints only"},
      {"dist.zero", "ZeRO-1: each rank keeps the optimizer state of its shard of the parameters only (same results)"},
      {"eval.batch", "test images per evaluation batch"},
      {"eval.iw_samples", "k: importance samples per image for the IW NLL estimate, 1..5000"},
      {"eval.iw_chunk", "importance samples decoded at once (bounds memory, not the result)"},
      {"eval.max_images", "evaluate the first N test images; 0: the whole test set"},
  };
  return table;
}

constexpr size_t kCommentColumn = 36;

}  // namespace

std::string config_key_description(const std::string& dotted_key) {
  const auto it = descriptions().find(dotted_key);
  return it == descriptions().end() ? "" : it->second;
}

std::string config_template(const std::string& model_type) {
  using namespace config_detail;
  Config defaults;
  defaults.data.train = "data/train/manifest.yaml";  // the one key without a usable default
  if (!model_type.empty()) {
    const Field* type = find_field("model", "type");
    const auto& choices = type->rule.choices;
    std::string known;
    for (std::string_view c : choices) known += (known.empty() ? "" : ", ") + std::string(c);
    ELBO_CHECK(std::find(choices.begin(), choices.end(), model_type) != choices.end(),
               "unknown model type '" << model_type << "'; the model types are: " << known);
    defaults.model.type = model_type;
  }
  std::ostringstream out;
  out << "# elbo configuration: every key with its default value. Keys left out keep these\n"
         "# defaults; docs/config.md explains each in full. Only data.train has no usable\n"
         "# default: point it at a shard set made by `elbo data convert`.\n";
  std::string_view section;
  for (const Field& f : fields()) {
    if (f.section != section) {
      out << "\n" << f.section << ":\n";
      section = f.section;
    }
    std::string line = "  " + std::string(f.key) + ": " + value_text(f.ref(defaults));
    std::string comment = config_key_description(f.path());
    if (f.rule.kind == Rule::Kind::kOneOf) {
      std::string choices;
      for (std::string_view c : f.rule.choices) choices += (choices.empty() ? "" : "|") + std::string(c);
      comment += (comment.empty() ? "" : "; ") + choices;
    }
    if (!comment.empty()) line += std::string(std::max<size_t>(2, kCommentColumn - std::min(line.size(), kCommentColumn)), ' ') + "# " + comment;
    out << line << "\n";
  }
  return out.str();
}

}  // namespace elbo
