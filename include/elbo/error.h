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
