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
  t.segment = open_segment_;
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

void Graph::begin_recompute() {
  ELBO_CHECK(!planned_ && open_segment_ < 0, "graph: begin_recompute() inside a segment or after plan()");
  Segment s;
  s.begin = s.end = nodes_.size();
  segments_.push_back(s);
  open_segment_ = int(segments_.size()) - 1;
}

void Graph::end_recompute() {
  ELBO_CHECK(open_segment_ >= 0, "graph: end_recompute() without begin_recompute()");
  segments_[size_t(open_segment_)].end = nodes_.size();
  open_segment_ = -1;
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

// The groups of tensors that share a layout (union-find over base tensors), and which of
// them are blocked: the rule in graph.h.
void Graph::choose_layouts() {
  const int b = channel_blocking_ ? be_.channel_block() : 0;
  if (b <= 1) return;
  const size_t count = tensors_.size();
  std::vector<size_t> parent(count);
  std::iota(parent.begin(), parent.end(), size_t(0));
  auto find = [&](size_t t) {
    while (parent[t] != t) t = parent[t] = parent[parent[t]];
    return t;
  };
  auto group = [&](Var v) { return find(root(size_t(v.id))); };
  for (const auto& n : nodes_) {
    if (n->layout_rule() != LayoutRule::kShared) continue;
    std::vector<Var> all = n->inputs;
    all.insert(all.end(), n->outputs.begin(), n->outputs.end());
    for (size_t i = 1; i < all.size(); ++i) parent[group(all[i])] = group(all[0]);
  }
  std::vector<char> allowed(count, 1), convolved(count, 0), read(count, 0);
  for (const auto& n : nodes_)
    for (Var in : n->inputs) read[root(size_t(in.id))] = 1;
  for (size_t t = 0; t < count; ++t) {
    const TensorInfo& info = tensors_[t];
    const bool image_map = info.shape.c % b == 0 && info.shape.h * info.shape.w > 1;
    // A tensor no node reads is a result the caller reads: plain, as the caller expects.
    const bool unread = info.view_of < 0 && !read[t];
    if (info.view_of >= 0 || info.external || info.is_constant || !image_map || unread) allowed[find(root(t))] = 0;
  }
  for (const auto& n : nodes_) {
    const LayoutRule rule = n->layout_rule();
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      const size_t grp = group(n->inputs[i]);
      if (rule == LayoutRule::kPlain || (rule == LayoutRule::kConv && i > 0)) allowed[grp] = 0;
      if (rule == LayoutRule::kConv && i == 0) convolved[grp] = 1;
    }
    for (size_t i = 0; i < n->outputs.size(); ++i) {
      const size_t grp = group(n->outputs[i]);
      if (rule == LayoutRule::kPlain || (rule == LayoutRule::kConv && i > 0)) allowed[grp] = 0;
      if (rule == LayoutRule::kConv && i == 0) convolved[grp] = 1;
    }
  }
  for (size_t t = 0; t < count; ++t) {
    const size_t grp = find(root(t));
    tensors_[t].block = allowed[grp] && convolved[grp] ? b : 1;
  }
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
  choose_layouts();
  lay_out(with_gradients, written);
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

// Arena layout: the kept tensors' values, then their gradients, each in its own place
// (every value stays available to backward); then one pool for the segments' inner values
// and one for their gradients, each as large as the largest segment needs.
void Graph::lay_out(bool with_gradients, const std::vector<bool>& written) {
  ELBO_CHECK(open_segment_ < 0, "graph: plan() inside a recomputation segment (end_recompute() missing)");
  // Inner tensors: made in a segment and read by its nodes only. A tensor no node reads is
  // a result the caller reads (a loss term): kept.
  std::vector<bool> read(tensors_.size(), false);
  for (TensorInfo& t : tensors_) t.inner = t.segment >= 0 && !t.external && t.view_of < 0 && !t.is_constant;
  for (size_t k = 0; k < nodes_.size(); ++k)
    for (Var in : nodes_[k]->inputs) {
      const size_t r = root(size_t(in.id));
      read[r] = true;
      TensorInfo& t = tensors_[r];
      if (!t.inner) continue;
      const Segment& s = segments_[size_t(t.segment)];
      if (k < s.begin || k >= s.end) t.inner = false;
    }
  for (size_t r = 0; r < tensors_.size(); ++r)
    if (!read[r]) tensors_[r].inner = false;
  segment_ending_at_.assign(nodes_.size(), -1);
  for (size_t s = 0; s < segments_.size(); ++s)
    if (segments_[s].end > segments_[s].begin) segment_ending_at_[segments_[s].end - 1] = int(s);
  size_t offset = 0;
  for (TensorInfo& t : tensors_) {
    if (t.external || t.view_of >= 0 || t.inner) continue;
    t.value_offset = offset;
    t.has_value_slot = true;
    offset += t.shape.numel();
  }
  for (TensorInfo& t : tensors_) {
    if (!with_gradients || !t.needs_grad || t.view_of >= 0 || t.inner) continue;
    t.grad_offset = offset;
    t.has_grad_slot = true;
    offset += t.shape.numel();
  }
  // The pools: each segment lays its inner tensors out from the pool's start.
  std::vector<size_t> value_used(segments_.size(), 0), grad_used(segments_.size(), 0);
  for (TensorInfo& t : tensors_) {
    if (!t.inner) continue;
    t.value_offset = value_used[size_t(t.segment)];
    t.has_value_slot = true;
    value_used[size_t(t.segment)] += t.shape.numel();
    if (!with_gradients || !t.needs_grad) continue;
    t.grad_offset = grad_used[size_t(t.segment)];
    t.has_grad_slot = true;
    grad_used[size_t(t.segment)] += t.shape.numel();
  }
  const size_t value_pool = offset;
  const size_t grad_pool = value_pool + (value_used.empty() ? 0 : *std::max_element(value_used.begin(), value_used.end()));
  offset = grad_pool + (grad_used.empty() ? 0 : *std::max_element(grad_used.begin(), grad_used.end()));
  for (TensorInfo& t : tensors_) {
    if (!t.inner) continue;
    t.value_offset += value_pool;
    if (t.has_grad_slot) t.grad_offset += grad_pool;
  }
  arena_ = DeviceBuffer(&be_, std::max<size_t>(offset, 1));
  // Gradients no node writes are zeroed before backward; an inner one before its
  // segment's backward (the pool holds another segment's until then).
  for (size_t t = 0; t < tensors_.size(); ++t) {
    if (!tensors_[t].has_grad_slot || written[t]) continue;
    if (tensors_[t].inner) segments_[size_t(tensors_[t].segment)].unwritten_inner_grads.push_back(Var{int(t)});
    else unwritten_grads_.push_back(Var{int(t)});
  }
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
    const size_t index = nodes_.size() - 1 - k;
    if (const int s = segment_ending_at_[index]; s >= 0) {  // recompute the segment's inner values
      const Segment& seg = segments_[size_t(s)];
      for (size_t j = seg.begin; j < seg.end; ++j) nodes_[j]->forward(be_, *this);
      for (Var v : seg.unwritten_inner_grads) be_.fill(grad(v), shape(v).numel(), 0.0f);
    }
    Node& n = *nodes_[index];
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
