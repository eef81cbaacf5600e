// One operation of a Graph: its inputs and outputs (graph tensors), the parameter
// slices whose gradients it writes, and its forward and backward arithmetic through
// the Backend's ops. Nodes are created by layer functions (nn/layers.h) while a
// model's forward code is recorded; they hold no activation memory of their own.
#pragma once
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/tensor.h"

namespace elbo {

class Graph;

// A graph tensor's handle.
struct Var {
  int id = -1;
  bool valid() const { return id >= 0; }
};

// Which layouts a node's tensors may take (Graph::plan chooses, nn/graph.h): plain
// NCHW, or channel-blocked (Backend::channel_block) between convolutions.
enum class LayoutRule {
  kPlain,   // every input and output plain (the default)
  kShared,  // all inputs and outputs in one layout, plain or blocked: element-wise nodes,
            // and those that read Graph::channel_block (resampling)
  kConv,    // inputs[0] and outputs[0] each plain or blocked (the node passes the layouts
            // to the backend in ConvShape); any other input plain
};

class Node {
 public:
  virtual ~Node() = default;
  virtual const char* kind() const = 0;
  virtual LayoutRule layout_rule() const { return LayoutRule::kPlain; }
  virtual void forward(Backend& be, Graph& g) = 0;
  // Given the gradients of the outputs, adds the gradients of the inputs that need one
  // (or writes them, when this node is the first in backward order to touch that
  // input: Graph::assigns) and accumulates into the parameter gradients of the store.
  // Forward-only nodes (evaluation, sampling) keep the default, which refuses.
  virtual void backward(Backend& be, Graph& g);
  // Called once by Graph::plan, after the gradient modes are known: a node may ask for
  // scratch tensors here (nothing is allocated during a step).
  virtual void reserve(Graph& g) { (void)g; }
  // For a backward op that adds into input i's gradient: the pointer, zeroed first when
  // this node is the first writer in backward order; null when the input needs none.
  float* grad_to_add(Backend& be, Graph& g, size_t i) const;

  std::vector<Var> inputs, outputs;
  std::vector<int> param_slices;  // ParamStore slice indices whose gradients backward writes
  // A node that only observes (logged terms, monitors): gradients never flow through it,
  // its outputs never need one, and backward skips it. Set in the constructor.
  bool observes_only = false;
  // Set by Graph::plan, per input: whether backward must produce its gradient, and if so
  // whether it adds to (true) or overwrites (false) what is there.
  std::vector<bool> input_needs_grad, input_grad_accumulates;
};

}  // namespace elbo
