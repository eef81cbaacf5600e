// Errors that reach the user. Every message names what was wrong (file, key, rank)
// and what was expected; callers add context with rethrow_with().
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace elbo {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An error that every rank detected together, after agreeing on it through a
// collective (a non-finite loss, replicas that diverged, a bad checkpoint on rank 0
// broadcast to all): every rank throws it at the same point, so every rank can unwind
// normally and exit non-zero; only rank 0 prints it, so the user reads it once.
// Any other Error is one rank's alone: that rank prints it and ends the whole job.
class AgreedError : public Error {
 public:
  using Error::Error;
};

// ELBO_CHECK(cond, "key 'train.lr': expected > 0, got " << v)
#define ELBO_CHECK(cond, streamed_message)            \
  do {                                                \
    if (!(cond)) {                                    \
      std::ostringstream elbo_check_os_;              \
      elbo_check_os_ << streamed_message;             \
      throw ::elbo::Error(elbo_check_os_.str());      \
    }                                                 \
  } while (0)

#define ELBO_FAIL(streamed_message)                   \
  do {                                                \
    std::ostringstream elbo_check_os_;                \
    elbo_check_os_ << streamed_message;               \
    throw ::elbo::Error(elbo_check_os_.str());        \
  } while (0)

}  // namespace elbo
