#include "elbo/nn/residual.h"

#include "elbo/error.h"
#include "elbo/nn/layers.h"

namespace elbo {

ResidualCell::ResidualCell(ParamStore& store, const std::string& name, int channels,
                           const ResidualCellOptions& options)
    : options_(options) {
  const int hidden = options.hidden > 0 ? options.hidden : channels, k = options.kernel;
  ELBO_CHECK(k > 0 && k % 2 == 1, "residual cell " << name << ": kernel " << k << " must be odd to keep the size");
  // Registered in forward order, so the reducer's buckets fill as backward proceeds.
  if (options.groups > 0) norm1_.emplace(store, name + ".norm1", channels, options.groups);
  WeightOptions first, last;
  first.weight_norm = last.weight_norm = options.weight_norm;
  last.init_scale = options.last_init_scale;
  conv1_.emplace(store, name + ".conv1", channels, hidden, k, 1, k / 2, Activation::kIdentity, first);
  if (options.groups > 0) norm2_.emplace(store, name + ".norm2", hidden, options.groups);
  conv2_.emplace(store, name + ".conv2", hidden, channels, k, 1, k / 2, Activation::kIdentity, last);
}

Var ResidualCell::operator()(Graph& g, Var x) const {
  auto pre = [&](const std::optional<GroupNorm>& norm, Var v) {
    return activation(g, norm ? (*norm)(g, v) : v, options_.act);
  };
  // With recomputation the branch's tensors are not kept for backward: only x and y are.
  if (g.recompute_layers()) g.begin_recompute();
  Var branch = (*conv2_)(g, pre(norm2_, (*conv1_)(g, pre(norm1_, x))));
  if (options_.branch_scale != 1.0f) branch = scale(g, branch, options_.branch_scale);
  Var y = add(g, x, branch);  // x is read twice (branch and skip): its gradients add up
  if (g.recompute_layers()) g.end_recompute();
  return y;
}

}  // namespace elbo
