#include "elbo/train/replica.h"

#include "elbo/error.h"

namespace elbo {

Device choose_device(const Config& config, const MpiContext& mpi) {
  const std::string& want = config.train.device;
  const int gpus = cuda_device_count();
  if (want == "cpu" || (want == "auto" && gpus == 0)) return Device{DeviceType::kCPU, 0};
  ELBO_CHECK(cuda_backend_compiled(), "train.device: cuda requested on rank " << mpi.rank()
                                          << ", but this elbo was built without CUDA");
  ELBO_CHECK(gpus > 0, "train.device: cuda requested on rank " << mpi.rank()
                           << ", but no CUDA device is visible (check CUDA_VISIBLE_DEVICES and the driver)");
  return Device{DeviceType::kCUDA, mpi.local_rank() % gpus};
}

static GemmPrecision parse_precision(const std::string& p) {
  if (p == "tf32") return GemmPrecision::kTF32;
  if (p == "bf16") return GemmPrecision::kBF16;
  return GemmPrecision::kFP32;
}

static CommBackend parse_comm(const std::string& b) {
  if (b == "mpi") return CommBackend::kMpi;
  if (b == "nccl") return CommBackend::kNccl;
  return CommBackend::kAuto;
}

Replica make_replica(const Config& config, MpiContext& mpi, Shape sample) {
  Replica r;
  r.backend = make_backend(choose_device(config, mpi), parse_precision(config.train.precision));
  r.model = make_model(config.model, sample, *r.backend, config.run.seed);
  r.comm = make_communicator(parse_comm(config.dist.backend), mpi, *r.backend, config.dist.timeout_s);
  ParamStore& ps = r.model->params();
  r.comm->broadcast(ps.params(), ps.total(), 0);
  return r;
}

}  // namespace elbo
