#include "elbo/nn/embedding.h"

#include "elbo/error.h"

namespace elbo {
namespace {

class EmbeddingNode final : public Node {
 public:
  EmbeddingNode(Var index, Var y, int table, int classes, int dim) : table_(table), classes_(classes), dim_(dim) {
    inputs = {index};
    outputs = {y};
    param_slices = {table};
  }
  const char* kind() const override { return "embedding"; }
  void forward(Backend& be, Graph& g) override {
    be.embedding_forward(g.value(outputs[0]), g.params().param(table_), g.value(inputs[0]), g.shape(outputs[0]).n,
                         classes_, dim_);
  }
  void backward(Backend& be, Graph& g) override {
    be.embedding_backward(g.params().grad(table_), g.grad(outputs[0]), g.value(inputs[0]), g.shape(outputs[0]).n,
                          classes_, dim_);
  }

 private:
  int table_, classes_, dim_;
};

}  // namespace

Embedding::Embedding(ParamStore& store, const std::string& name, int classes, int dim)
    : classes_(classes), dim_(dim), table_(store.add(name + ".weight", {classes, dim}, 1)) {}

Var Embedding::operator()(Graph& g, Var index) const {
  const Shape s = g.shape(index);
  ELBO_CHECK(s.row_size() == 1, "embedding: the index " << s.str() << " must hold one class number per row");
  ELBO_CHECK(!g.needs_grad(index), "embedding: class numbers cannot be differentiated; the index must not depend on "
                                   "parameters");
  Var y = g.tensor(Shape::rows(s.n, dim_));
  g.add<EmbeddingNode>(index, y, table_, classes_, dim_);
  return y;
}

}  // namespace elbo
