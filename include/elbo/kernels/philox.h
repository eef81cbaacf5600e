// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
// A draw is a pure function of (seed, stream, a, b): no state to save in a
// checkpoint, no drift between ranks, and the CPU and CUDA backends produce the
// same numbers. Convention used throughout elbo:
//   stream = what the numbers are for (RngStream below)
//   a      = the sample's serial number in the training stream (step*global_batch + row)
//            or another 64-bit index (epoch for permutations)
//   b      = the element within the sample (pixel, latent dimension, k*latent+dim)
#pragma once
#include <cmath>
#include <cstdint>

#include "elbo/kernels/hd.h"
#include "elbo/kernels/math.h"

namespace elbo {

enum RngStream : uint32_t {
  kRngReparam = 1,      // reparameterization noise eps ~ N(0, 1)
  kRngBinarize = 2,     // dynamic binarization of pixels
  kRngPermutation = 3,  // per-epoch shuffle of the data set
  kRngInit = 4,         // parameter initialisation
  kRngEval = 5,         // evaluation / importance sampling noise
  kRngSample = 6,       // prior samples for the sample grid
};

struct Philox4 {
  uint32_t x[4];
};

ELBO_HD uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

ELBO_HD Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  const uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    uint32_t lo0 = philox_mulhilo(M0, ctr.x[0], &hi0);
    uint32_t lo1 = philox_mulhilo(M1, ctr.x[2], &hi1);
    Philox4 next;
    next.x[0] = hi1 ^ ctr.x[1] ^ k0;
    next.x[1] = lo1;
    next.x[2] = hi0 ^ ctr.x[3] ^ k1;
    next.x[3] = lo0;
    ctr = next;
    k0 += W0;
    k1 += W1;
  }
  return ctr;
}

ELBO_HD Philox4 philox_draw(uint64_t seed, uint32_t stream, uint64_t a, uint32_t b) {
  Philox4 ctr;
  ctr.x[0] = b;
  ctr.x[1] = static_cast<uint32_t>(a);
  ctr.x[2] = static_cast<uint32_t>(a >> 32);
  ctr.x[3] = stream;
  return philox4x32_10(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Uniform in the open interval (0, 1): 24 random bits, centred in their cell.
ELBO_HD float philox_u32_to_unit(uint32_t r) {
  return (static_cast<float>(r >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

// Element b of a stream row: one Philox draw yields four 32-bit words, so uniforms
// b = 4q..4q+3 share the draw of counter q, and normals b = 2q, 2q+1 share the draw
// of counter q (Box-Muller on words 0,1 and 2,3). Loops over consecutive elements can
// therefore compute one draw per 4 uniforms / 2 normals (PhiloxRowCache) and still
// give exactly the numbers of these per-element functions.
ELBO_HD float philox_uniform(uint64_t seed, uint32_t stream, uint64_t a, uint32_t b) {
  Philox4 r = philox_draw(seed, stream, a, b >> 2);
  return philox_u32_to_unit(r.x[b & 3u]);
}

// N(0, 1) from two words: sqrt(-2 log u1) cos(2 pi u2), u1 and u2 in (0, 1) (never 0, so
// the logarithm is finite). The logarithm and cosine are kernels/math.h's own, not libm's:
// the same arithmetic on both backends, and CPU loops over rows of normals vectorise.
ELBO_HD float box_muller(uint32_t w0, uint32_t w1) {
  const float u1 = philox_u32_to_unit(w0);
  const float u2 = philox_u32_to_unit(w1);
  return sqrtf(-2.0f * log_positive_normal(u1)) * cos_two_pi(u2);
}

ELBO_HD float philox_normal(uint64_t seed, uint32_t stream, uint64_t a, uint32_t b) {
  Philox4 r = philox_draw(seed, stream, a, b >> 1);
  const uint32_t w = (b & 1u) * 2u;
  return box_muller(r.x[w], r.x[w + 1]);
}

// Walks the elements of one row in order, drawing each Philox block once.
struct PhiloxRowCache {
  uint64_t seed;
  uint32_t stream;
  uint64_t a;
  uint32_t block = 0xFFFFFFFFu;
  Philox4 r{};

  ELBO_HD const Philox4& at(uint32_t q) {
    if (q != block) {
      r = philox_draw(seed, stream, a, q);
      block = q;
    }
    return r;
  }
  ELBO_HD float uniform(uint32_t b) { return philox_u32_to_unit(at(b >> 2).x[b & 3u]); }
  ELBO_HD float normal(uint32_t b) {
    const Philox4& d = at(b >> 1);
    const uint32_t w = (b & 1u) * 2u;
    return box_muller(d.x[w], d.x[w + 1]);
  }
};

// 64 uniform random bits, for host-side shuffles.
ELBO_HD uint64_t philox_u64(uint64_t seed, uint32_t stream, uint64_t a, uint32_t b) {
  Philox4 r = philox_draw(seed, stream, a, b);
  return (static_cast<uint64_t>(r.x[1]) << 32) | r.x[0];
}

}  // namespace elbo
