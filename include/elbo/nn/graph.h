// A model's computation as a static graph, recorded once per input shape and then
// replayed every step (ggml's idea of a static graph and a planned allocator, with
// Caffe's per-layer backward):
//   1. record: the model's forward code calls layer functions (nn/layers.h); each adds
//      a Node reading and writing graph tensors (Var);
//   2. plan(): every tensor's values and gradients get a place in one arena, allocated
//      once, so a step allocates nothing and a CUDA graph capture stays valid; for each
//      tensor the first node in backward order that produces its gradient writes it and
//      later ones add to it, so a tensor used twice (residuals, skips, shared features)
//      gets the sum of its users' gradients;
//   3. forward(), then backward(seeds): nodes in reverse order. A parameter's gradient
//      is final after the last node in backward order that writes it; the graph reports
//      on_grads_ready(offset) as soon as every gradient at flat index >= offset is final,
//      which is when the reducer may start those buckets (PyTorch DDP's rule, derived
//      from the graph instead of a hand-kept registration order).
// Why not a dynamic tape (PyTorch autograd): shapes are fixed per run, and a recorded
// graph gives memory planning and capture for free; a new shape records a new graph.
// Layouts: a tensor is plain (NCHW, or rows) unless plan() stores it channel-blocked
// ([n, c / b, h, w, b], b = Backend::channel_block(): the layout oneDNN's convolutions
// compute in), which saves the reorders into and out of that layout around every
// convolution. Tensors joined by a node of LayoutRule::kShared (activations, sums,
// scaling, concatenation, resampling) form a group that takes one layout; a group is
// blocked when a convolution reads or writes it (as its input or output), every tensor
// in it is an image map with channels divisible by b, and nothing else touches it: no
// view, no input or constant, no node of LayoutRule::kPlain, no tensor that no node reads
// (a result for the caller). So whatever leaves the graph's image towers (a view to rows,
// a head of few channels, a result) is plain, and a node never sees a layout it does not
// handle. Its gradient has its layout. The bits do not
// change: reorders are exact copies and the blocked ops add in the plain ones' order.
// Recomputation (gradient checkpointing, Chen et al. 2016): the nodes recorded between
// begin_recompute() and end_recompute() form a segment. A tensor made inside a segment and
// read only by its nodes is an inner tensor: the inner tensors of every segment share one
// pool of the arena (values and gradients alike), so they are not kept from forward to
// backward; backward runs each segment's forward again right before its nodes' backward.
// The recomputed values are the same bits (the same ops on the same inputs), so gradients
// do not change; the memory of all segments' insides becomes that of the largest one.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "elbo/backend.h"
#include "elbo/nn/node.h"
#include "elbo/nn/param_store.h"
#include "elbo/tensor.h"

namespace elbo {

// The weight of a per-row loss term in the objective: d objective / d term[r] = weight
// for every row (a host float, times a device scalar for a captured step's KL warm-up).
struct LossSeed {
  Var term;
  Weight weight;
};

class Graph {
 public:
  Graph(Backend& backend, ParamStore& params);
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // ---- recording ----
  // External data (bound before each forward); never gets a gradient.
  Var input(const std::string& name, Shape shape);
  // A tensor in the arena; gradients only where a parameter or a needs-grad input leads to it.
  Var tensor(Shape shape);
  // A tensor that never needs a gradient (noise, masks, constants), zero-filled once.
  Var constant(Shape shape);
  // The same values (and gradient) seen with another shape of as many elements:
  // (n, C*H*W) <-> (n, C, H, W) between dense and convolutional layers. No copy.
  Var view(Var v, Shape shape);
  // Recomputation segments (above): not nested; nodes that draw noise must stay outside.
  void begin_recompute();
  void end_recompute();
  // Whether layers that offer it (ResidualCell) record themselves as segments: a model's
  // choice per graph (train.recompute), set before recording.
  void set_recompute_layers(bool on) { recompute_layers_ = on; }
  bool recompute_layers() const { return recompute_layers_; }
  // Whether plan() may store tensors channel-blocked (above); on by default, off to
  // compare against plain layouts. Set before plan().
  void set_channel_blocking(bool on) { channel_blocking_ = on; }
  // Adds a node and its output tensors' dependence on its inputs and parameters.
  template <class N, class... Args>
  N& add(Args&&... args) {
    auto node = std::make_unique<N>(std::forward<Args>(args)...);
    N& ref = *node;
    add_node(std::move(node));
    return ref;
  }

  // ---- planning and running ----
  // Allocates the arena; with_gradients=false plans a forward-only graph (evaluation).
  void plan(bool with_gradients);
  bool planned() const { return planned_; }
  void bind(Var input, const float* data);
  void forward();
  // Backpropagates the objective sum_s seed.weight * sum_r term_s[r]; parameter gradients
  // accumulate into the store's gradient buffer (zeroed by the caller once per step).
  void backward(const std::vector<LossSeed>& seeds, const std::function<void(size_t)>& on_grads_ready = {});

  // ---- access (for nodes and callers) ----
  Backend& backend() { return be_; }
  ParamStore& params() { return params_; }
  Shape shape(Var v) const { return tensors_.at(size_t(v.id)).shape; }
  float* value(Var v);
  float* grad(Var v);  // null where the tensor needs no gradient
  bool needs_grad(Var v) const { return tensors_.at(root(size_t(v.id))).needs_grad; }
  // The channel block of v's layout, chosen by plan(): 1 for plain, else b ([n, c / b, h, w, b]).
  int channel_block(Var v) const { return tensors_.at(root(size_t(v.id))).block; }
  // The seed weight of a per-row loss term during backward, or null if it is not seeded.
  const Weight* seed_of(Var term) const;
  // The weight of each row of a per-row term in backward: its seed when seeded, else the
  // gradient later nodes wrote into it (Weight::rows); false when neither (no gradient).
  bool row_weight(Var term, Weight* w);
  size_t arena_floats() const { return arena_.size(); }
  size_t node_count() const { return nodes_.size(); }
  const Node& node(size_t i) const { return *nodes_[i]; }

 private:
  struct TensorInfo {
    Shape shape;
    std::string name;
    bool external = false, needs_grad = false, is_constant = false;
    const float* bound = nullptr;  // external data
    size_t value_offset = 0, grad_offset = 0;
    bool has_value_slot = false, has_grad_slot = false;
    int view_of = -1;  // a view's base tensor: values and gradient live there
    int segment = -1;  // the recomputation segment it was made in (-1: none)
    bool inner = false;  // plan(): made and read only inside its segment (pooled)
    int block = 1;       // plan(): the channel block of its layout (1: plain)
  };
  struct Segment {
    size_t begin = 0, end = 0;  // node indices [begin, end)
    std::vector<Var> unwritten_inner_grads;  // zeroed before the segment's backward
  };
  void lay_out(bool with_gradients, const std::vector<bool>& written);
  void choose_layouts();
  size_t root(size_t t) const { return tensors_[t].view_of >= 0 ? size_t(tensors_[t].view_of) : t; }
  void add_node(std::unique_ptr<Node> node);

  Backend& be_;
  ParamStore& params_;
  std::vector<TensorInfo> tensors_;
  std::vector<std::unique_ptr<Node>> nodes_;
  bool planned_ = false, with_gradients_ = false;
  DeviceBuffer arena_;
  // ready_after_[k]: flat offset from which every parameter gradient is final after the
  // k-th node in backward order ran (SIZE_MAX: none yet).
  std::vector<size_t> ready_after_;
  // Gradients no node writes (a needs-grad output nobody reads): zeroed before backward,
  // so a producer that reads its output's gradient sees zeros, not stale values.
  std::vector<Var> unwritten_grads_;
  const std::vector<LossSeed>* seeds_ = nullptr;
  std::vector<Segment> segments_;
  int open_segment_ = -1;  // index into segments_ while recording one
  bool recompute_layers_ = false;
  bool channel_blocking_ = true;
  std::vector<int> segment_ending_at_;  // per node: the segment whose last node it is, or -1
};

}  // namespace elbo
