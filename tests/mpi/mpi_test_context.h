// The MPI context a multi-rank test shares across its TESTs: one per process, made on
// first use (mpi_gtest_main.cc has initialised MPI by then).
#pragma once

#include "elbo/dist/mpi_context.h"

namespace elbo {

inline MpiContext& mpi() {
  static MpiContext ctx(nullptr, nullptr);
  return ctx;
}

}  // namespace elbo
