#include "elbo/train/training_state.h"

#include <map>

#include "elbo/error.h"

namespace elbo {
namespace {

std::vector<NamedArray> split(const std::vector<float>& flat, const ParamStore& params) {
  std::vector<NamedArray> out;
  for (const ParamSlice& s : params.slices()) {
    NamedArray a;
    a.name = s.name;
    a.shape = s.shape;
    a.values.assign(flat.begin() + long(s.offset), flat.begin() + long(s.offset + s.size));
    out.push_back(std::move(a));
  }
  return out;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::vector<float> join(const std::vector<NamedArray>& arrays, const ParamStore& params, const std::string& source,
                        const char* group) {
  std::map<std::string, const NamedArray*> by_name;
  for (const NamedArray& a : arrays) by_name[a.name] = &a;
  std::vector<float> flat(params.total());
  for (const ParamSlice& s : params.slices()) {
    auto it = by_name.find(s.name);
    ELBO_CHECK(it != by_name.end(), source << ": " << group << " '" << s.name << "' is missing (the model has it)");
    ELBO_CHECK(it->second->shape == s.shape, source << ": " << group << " '" << s.name << "' has shape "
                                                    << shape_str(it->second->shape) << ", the model expects "
                                                    << shape_str(s.shape));
    std::copy(it->second->values.begin(), it->second->values.end(), flat.begin() + long(s.offset));
  }
  ELBO_CHECK(by_name.size() == params.slices().size(),
             source << ": holds " << by_name.size() << " " << group << " arrays, the model has "
                    << params.slices().size());
  return flat;
}

}  // namespace

void capture_state(Backend& be, ParamStore& params, const HostMoments* moments, CheckpointState& state,
                   WeightAverage* ema) {
  std::vector<float> host(params.total());
  be.copy_to_host(host.data(), params.params(), host.size());
  state.params = split(host, params);
  state.adam_m.clear();
  state.adam_v.clear();
  if (moments && !moments->empty()) {
    ELBO_CHECK(moments->m.size() == host.size() && moments->v.size() == host.size(),
               "optimizer moments of " << moments->m.size() << " floats for " << host.size() << " parameters");
    state.adam_m = split(moments->m, params);
    state.adam_v = split(moments->v, params);
  }
  state.ema.clear();
  if (ema && ema->enabled()) {
    be.copy_to_host(host.data(), ema->values(), host.size());
    state.ema = split(host, params);
  }
}

bool restore_state(const CheckpointState& state, const std::string& source, Backend& be, ParamStore& params,
                   HostMoments* moments, WeightAverage* ema) {
  std::vector<float> flat = join(state.params, params, source, "parameter");
  be.copy_to_device(params.params(), flat.data(), flat.size());
  if (moments && !state.adam_m.empty()) {
    moments->m = join(state.adam_m, params, source, "optimizer moment m");
    moments->v = join(state.adam_v, params, source, "optimizer moment v");
  }
  bool ema_found = false;
  if (ema && ema->enabled()) {
    ema_found = !state.ema.empty();
    if (ema_found) {
      flat = join(state.ema, params, source, "weight average");
      be.copy_to_device(ema->values(), flat.data(), flat.size());
    } else {
      ema->start_from(params.params());
    }
  }
  be.synchronize();
  return ema_found;
}

const char* restore_inference_weights(const CheckpointState& state, const std::string& source, Backend& be,
                                      ParamStore& params) {
  const bool average = !state.ema.empty();
  const std::vector<float> flat = join(average ? state.ema : state.params, params, source,
                                       average ? "weight average" : "parameter");
  be.copy_to_device(params.params(), flat.data(), flat.size());
  be.synchronize();
  return average ? "weight average" : "parameters";
}

}  // namespace elbo
