// ELBO_HD marks arithmetic that both backends share: the CPU backend calls these
// functions in plain loops, the CUDA backend calls the very same functions from
// its kernels. One source of arithmetic means the CPU tests check the GPU math too.
#pragma once
#if defined(__CUDACC__)
#define ELBO_HD __host__ __device__ __forceinline__
#else
#define ELBO_HD inline
#endif
