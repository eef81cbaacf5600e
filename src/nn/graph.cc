#include "elbo/nn/graph.h"

#include <algorithm>
#include <cstdint>
#include <numeric>

#include "elbo/error.h"

namespace elbo {

void Node::backward(Backend& be, Graph& g) {
  (void)be;
  (void)g;
  ELBO_FAIL("graph node '" << kind() << "' has no backward: it belongs to evaluation or sampling graphs only");
}

float* Node::grad_to_add(Backend& be, Graph& g, size_t i) const {
  if (!input_needs_grad[i]) return nullptr;
  float* d = g.grad(inputs[i]);
  if (!input_grad_accumulates[i]) be.fill(d, g.shape(inputs[i]).numel(), 0.0f);
  return d;
}

Graph::Graph(Backend& backend, ParamStore& params) : be_(backend), params_(params) {}

Var Graph::input(const std::string& name, Shape shape) {
  ELBO_CHECK(!planned_, "graph: input '" << name << "' added after plan()");
  TensorInfo t;
  t.shape = shape;
  t.name = name;
  t.external = true;
  tensors_.push_back(t);
  return Var{int(tensors_.size()) - 1};
}

Var Graph::tensor(Shape shape) {
  TensorInfo t;
  t.shape = shape;
  tensors_.push_back(t);
  return Var{int(tensors_.size()) - 1};
}

Var Graph::constant(Shape shape) {
  Var v = tensor(shape);
  tensors_[size_t(v.id)].is_constant = true;
  return v;
}

Var Graph::view(Var v, Shape shape) {
  const size_t base = root(size_t(v.id));
  ELBO_CHECK(shape.numel() == tensors_[base].shape.numel(),
             "graph: a view " << shape.str() << " of " << tensors_[base].shape.str() << " must keep the element count");
  ELBO_CHECK(!tensors_[base].external, "graph: views of inputs are not supported (bind the input with its shape)");
  TensorInfo t = tensors_[base];
  t.shape = shape;
  t.view_of = int(base);
  tensors_.push_back(t);
  return Var{int(tensors_.size()) - 1};
}

void Graph::add_node(std::unique_ptr<Node> node) {
  ELBO_CHECK(!planned_, "graph: node '" << node->kind() << "' added after plan()");
  bool grad = !node->param_slices.empty();
  for (Var in : node->inputs) {
    ELBO_CHECK(in.valid() && size_t(in.id) < tensors_.size(), "graph: node '" << node->kind() << "' reads an unknown tensor");
    grad = grad || tensors_[root(size_t(in.id))].needs_grad;
  }
  ELBO_CHECK(!(node->observes_only && !node->param_slices.empty()),
             "graph: node '" << node->kind() << "' observes only but has parameters");
  if (node->observes_only) grad = false;
  for (Var out : node->outputs) {
    ELBO_CHECK(out.valid() && size_t(out.id) < tensors_.size() && !tensors_[size_t(out.id)].external,
               "graph: node '" << node->kind() << "' writes an unknown or external tensor");
    if (!tensors_[size_t(out.id)].is_constant) tensors_[root(size_t(out.id))].needs_grad = grad;
  }
  nodes_.push_back(std::move(node));
}

void Graph::plan(bool with_gradients) {
  ELBO_CHECK(!planned_, "graph: plan() called twice");
  with_gradients_ = with_gradients;
  // Gradient modes: walking backward order (last node first), the first node to produce
  // an input's gradient writes it, every later one adds to it.
  std::vector<bool> written(tensors_.size(), false);
  for (size_t k = nodes_.size(); k-- > 0;) {
    Node& n = *nodes_[k];
    n.input_needs_grad.assign(n.inputs.size(), false);
    n.input_grad_accumulates.assign(n.inputs.size(), false);
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const size_t t = root(size_t(n.inputs[i].id));
      if (!with_gradients || !tensors_[t].needs_grad || n.observes_only) continue;
      n.input_needs_grad[i] = true;
      n.input_grad_accumulates[i] = written[t];
      written[t] = true;
    }
  }
  for (auto& n : nodes_) n->reserve(*this);  // may add constant scratch tensors
  // Arena layout: values, then gradients; nothing is reused yet (each tensor has its own
  // place), which keeps every value available to backward.
  size_t offset = 0;
  for (TensorInfo& t : tensors_) {
    if (t.external || t.view_of >= 0) continue;
    t.value_offset = offset;
    t.has_value_slot = true;
    offset += t.shape.numel();
  }
  for (TensorInfo& t : tensors_) {
    if (!with_gradients || !t.needs_grad || t.view_of >= 0) continue;
    t.grad_offset = offset;
    t.has_grad_slot = true;
    offset += t.shape.numel();
  }
  arena_ = DeviceBuffer(&be_, std::max<size_t>(offset, 1));
  for (size_t t = 0; t < tensors_.size(); ++t)
    if (tensors_[t].has_grad_slot && !written[t]) unwritten_grads_.push_back(Var{int(t)});
  for (TensorInfo& t : tensors_)  // views share their base's places
    if (t.view_of >= 0) {
      const TensorInfo& base = tensors_[size_t(t.view_of)];
      t.value_offset = base.value_offset;
      t.grad_offset = base.grad_offset;
      t.has_value_slot = base.has_value_slot;
      t.has_grad_slot = base.has_grad_slot;
      t.needs_grad = base.needs_grad;
    }
  // Which parameter gradients are final after each node of backward order.
  if (with_gradients) {
    const std::vector<ParamSlice>& slices = params_.slices();
    std::vector<size_t> last_writer(slices.size(), SIZE_MAX);  // position in backward order
    for (size_t k = 0; k < nodes_.size(); ++k)
      for (int s : nodes_[nodes_.size() - 1 - k]->param_slices) last_writer[size_t(s)] = k;
    std::vector<size_t> by_offset(slices.size());
    std::iota(by_offset.begin(), by_offset.end(), size_t(0));
    std::sort(by_offset.begin(), by_offset.end(),
              [&](size_t a, size_t b) { return slices[a].offset > slices[b].offset; });  // highest first
    ready_after_.assign(nodes_.size(), SIZE_MAX);
    for (size_t k = 0; k < nodes_.size(); ++k) {
      size_t ready = SIZE_MAX;
      for (size_t s : by_offset) {
        if (last_writer[s] > k) break;  // not final yet (or never written: left to finish())
        ready = slices[s].offset;
      }
      ready_after_[k] = ready;
    }
  }
  planned_ = true;
}

void Graph::bind(Var input, const float* data) {
  TensorInfo& t = tensors_.at(size_t(input.id));
  ELBO_CHECK(t.external, "graph: bind() of a tensor that is not an input");
  t.bound = data;
}

float* Graph::value(Var v) {
  TensorInfo& t = tensors_.at(root(size_t(v.id)));
  if (t.external) return const_cast<float*>(t.bound);  // inputs are read, never written
  ELBO_CHECK(planned_, "graph: value() before plan()");
  return arena_.data() + t.value_offset;
}

float* Graph::grad(Var v) {
  TensorInfo& t = tensors_.at(root(size_t(v.id)));
  return t.has_grad_slot ? arena_.data() + t.grad_offset : nullptr;
}

const Weight* Graph::seed_of(Var term) const {
  if (!seeds_) return nullptr;
  for (const LossSeed& s : *seeds_)
    if (s.term.id == term.id) return &s.weight;
  return nullptr;
}

bool Graph::row_weight(Var term, Weight* w) {
  if (const Weight* seed = seed_of(term)) {
    *w = *seed;
    return true;
  }
  if (float* d = grad(term)) {
    *w = Weight::rows(d);
    return true;
  }
  return false;
}

void Graph::forward() {
  ELBO_CHECK(planned_, "graph: forward() before plan()");
  for (const TensorInfo& t : tensors_)
    ELBO_CHECK(!t.external || t.bound, "graph: input '" << t.name << "' is not bound");
  for (auto& n : nodes_) n->forward(be_, *this);
}

void Graph::backward(const std::vector<LossSeed>& seeds, const std::function<void(size_t)>& on_grads_ready) {
  ELBO_CHECK(planned_ && with_gradients_, "graph: backward() needs plan(with_gradients = true)");
  seeds_ = &seeds;
  for (Var v : unwritten_grads_) be_.fill(grad(v), shape(v).numel(), 0.0f);
  // A seeded term's gradient is its seed: nodes that read their output's gradient (add,
  // scale, any generic layer) then see the objective's weight; the distribution nodes
  // read the seed itself (seed_of), the same values.
  for (const LossSeed& s : seeds) {
    if (float* d = grad(s.term)) {
      const int term = int(root(size_t(s.term.id)));
      ELBO_CHECK(std::any_of(unwritten_grads_.begin(), unwritten_grads_.end(), [&](Var v) { return v.id == term; }),
                 "graph: a seeded loss term must not also feed other nodes (its gradient is the seed)");
      be_.fill_weight(d, shape(s.term).numel(), s.weight);
    }
  }
  size_t reported = SIZE_MAX;
  for (size_t k = 0; k < nodes_.size(); ++k) {
    Node& n = *nodes_[nodes_.size() - 1 - k];
    const bool active = !n.param_slices.empty() ||
                        std::find(n.input_needs_grad.begin(), n.input_needs_grad.end(), true) != n.input_needs_grad.end();
    if (active) n.backward(be_, *this);
    if (on_grads_ready && ready_after_[k] < reported) {
      reported = ready_after_[k];
      on_grads_ready(reported);
    }
  }
  seeds_ = nullptr;
}

}  // namespace elbo
