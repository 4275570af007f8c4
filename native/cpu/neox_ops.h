// The GPT-NeoX kernels (internal to the CPU backend; the model in neox.cc strings them together).
// This header is the backend seam: every op takes plain pointers and sizes and touches no state of
// its own, so a CUDA port implements the same list over device pointers and the orchestration in
// neox.cc stays as it is (see docs/neox.md).
//
// Each op is a forward/backward pair, outputs first, with the shape of every pointer. Sizes:
// N rows (N = B·T), C hidden, IN/OUT a linear layer's widths, NH heads of HD dims, RD rotary
// dims, V vocab. Backward functions ACCUMULATE (+=) into parameter gradients (dw, db) and, where
// the comment says so, into input gradients; elsewhere they overwrite.
#pragma once
#include <algorithm>
#include <cstdint>

namespace rl {
namespace neox {

// ---- embedding --------------------------------------------------------------------------------
// out[n,:] = wte[ids[n],:]. out is (N,C), ids is (N), wte is (V,C).
void embedding_forward(float* out, const int32_t* ids, const float* wte, int64_t N, int64_t C);
// dwte[ids[n],:] += dout[n,:]. dwte is (V,C), dout is (N,C).
void embedding_backward(float* dwte, const float* dout, const int32_t* ids, int64_t N, int64_t C);

// out[n,:] += wpe[pos[n],:] (GPT-Neo's learned positions). out is (N,C), pos is (N), wpe is (P,C).
void position_embedding_forward(float* out, const int32_t* pos, const float* wpe, int64_t N, int64_t C);
// dwpe[pos[n],:] += dout[n,:]. dwpe is (P,C), dout is (N,C).
void position_embedding_backward(float* dwpe, const float* dout, const int32_t* pos, int64_t N, int64_t C);

// ---- layer norm -------------------------------------------------------------------------------
// out = (inp − mean)·rstd·w + b per row, rstd = 1/√(var + eps) (biased variance, as torch).
// out is (N,C), mean and rstd are (N), inp is (N,C), w and b are (C).
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                       const float* b, int64_t N, int64_t C, float eps);
// dinp += (dn − mean(dn) − n·mean(dn·n))·rstd with n = (inp − mean)·rstd, dn = dout·w;
// dw += Σ_rows dout·n; db += Σ_rows dout. dinp is (N,C) (+=), dw and db are (C).
void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                        const float* w, const float* mean, const float* rstd, int64_t N, int64_t C);

// ---- linear (nn.Linear: y = x·Wᵀ + b) -----------------------------------------------------------
// out is (N,OUT), inp is (N,IN), w is (OUT,IN), bias is (OUT) or null.
void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int64_t N,
                    int64_t IN, int64_t OUT);
// dinp = dout·w (+= when accumulate), dw += doutᵀ·inp, dbias += Σ_rows dout (when dbias given).
// dinp is (N,IN) or null (not computed), dw is (OUT,IN), dout is (N,OUT).
void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                     const float* w, int64_t N, int64_t IN, int64_t OUT, bool accumulate);

// The same product without packing, for decoding: each thread takes a contiguous block of output
// rows of w and computes them for blocks of input rows (as many as keep their inputs in L2), a
// register tile of 3 rows of w × 8 input rows at a time — so for a decode step (N = the batch)
// every weight matrix is read from memory once for all rows. Same contract as matmul_forward;
// every output is one dot product summed in a fixed order, so the result does not depend on the
// thread count. AVX-512 or AVX2 tiles when compiled for them, else plain dot products.
void matmul_forward_rows(float* out, const float* inp, const float* w, const float* bias, int64_t N,
                         int64_t IN, int64_t OUT);
// The largest N for which matmul_forward_rows beats matmul_forward: 32 against OpenBLAS (a decode
// step of few rows; a prefill or a wide batch is an OpenBLAS GEMM), every N with the SIMD tiles
// against the fallback GEMM, 32 with plain dot products.
int64_t matmul_rows_max();

// ---- rotary position embedding (rotate_half form, partial) -------------------------------------
// cos/sin[n,j] of angle pos[n]·inv_freq_j, inv_freq_j = 1/base^(2j/RD), j < RD/2, computed in
// float32 as transformers does. cos and sin are (N,RD/2), pos is (N).
void rotary_tables(float* cos, float* sin, const int32_t* pos, int64_t N, int64_t RD, double base);
// In place on q and k of every head: for j < RD/2, x1 = x[j], x2 = x[j + RD/2]:
//   x[j] ← x1·cos_j − x2·sin_j;  x[j + RD/2] ← x2·cos_j + x1·sin_j. qkv is (N,NH,3,HD).
void rotary_forward(float* qkv, const float* cos, const float* sin, int64_t N, int64_t NH,
                    int64_t HD, int64_t RD);
// The transpose rotation on dq and dk, in place: dx1 ← dy1·cos + dy2·sin; dx2 ← dy2·cos − dy1·sin.
void rotary_backward(float* dqkv, const float* cos, const float* sin, int64_t N, int64_t NH,
                     int64_t HD, int64_t RD);

// ---- causal self-attention with a padding mask -----------------------------------------------
// Where q, k and v of each head sit in a token's row of 3·C projections, and which keys a query
// sees. GPT-NeoX: heads interleaved, (NH,3,HD), scale 1/√HD, every key j <= t. GPT-Neo: q | k | v
// blocks, (3,NH,HD), scale 1, and on local layers only keys t − window < j <= t.
struct AttnShape {
  int64_t NH = 0, HD = 0;
  bool split = false;   // false: (NH,3,HD); true: (3,NH,HD)
  int64_t window = 0;   // 0: keys j <= t; else keys t − window < j <= t
  float scale = 1.0f;   // scores q·k·scale
  int64_t q(int64_t h) const { return split ? h * HD : h * 3 * HD; }
  int64_t k(int64_t h) const { return split ? (NH + h) * HD : h * 3 * HD + HD; }
  int64_t v(int64_t h) const { return split ? (2 * NH + h) * HD : h * 3 * HD + 2 * HD; }
  int64_t first_key(int64_t t) const { return window > 0 ? std::max<int64_t>(0, t - window + 1) : 0; }
};

// For query t of row b, head h: s_j = q_t·k_j·scale over keys first_key(t) <= j <= t with
// mask[b,j] = 1, att = softmax(s) (float32), out_t = Σ_j att_j·v_j. A query with no such key (a
// left-padded position) gets att = 0 and out = 0. out is (B,T,NH,HD), att is (B,NH,T,T) (0 where
// not attended), qkv is (B,T,3C) laid out as `s` says (after rotary), mask is (B,T) or null (all 1).
void attention_forward(float* out, float* att, const float* qkv, const uint8_t* mask, int64_t B,
                       int64_t T, const AttnShape& s);
// dqkv (overwritten, (B,T,3C)) from dout (B,T,NH,HD), with the forward's qkv and att.
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att,
                        int64_t B, int64_t T, const AttnShape& s);

// ---- attention over a KV cache (incremental decoding) -----------------------------------------
// The cache of one layer: kc and vc are (Bc,NH,Tmax,HD), cmask is (Bc,Tmax). A chunk of Bn rows of
// Tn new columns starts at column `start`; chunk row i is cache row rows[i] (rows null: row i).
// kv_cache_append copies the chunk's k and v (qkv is (Bn,Tn,3C), after rotary) into columns
// start .. start+Tn−1.
void kv_cache_append(float* kc, float* vc, const float* qkv, const int64_t* rows, int64_t Bn,
                     int64_t Tn, int64_t start, int64_t Tmax, const AttnShape& s);
// For the query of chunk row i, column c = start + t, head h: s_j = q·k_j·scale over cached columns
// first_key(c) <= j <= c with cmask[rows[i], j] = 1, att = softmax(s), out = Σ_j att_j·v_j (0 when
// no column is visible) — attention_forward's math over the cache (columns are sequence indices,
// so a local window counts padding as the full forward does). out is (Bn,Tn,NH,HD), qkv (Bn,Tn,3C).
// scratch holds attention_cached_scratch(Tmax) floats.
void attention_cached_forward(float* out, const float* qkv, const float* kc, const float* vc,
                              const uint8_t* cmask, const int64_t* rows, int64_t Bn, int64_t Tn,
                              int64_t start, int64_t Tmax, const AttnShape& s, float* scratch);
int64_t attention_cached_scratch(int64_t Tmax);

// ---- GELU ---------------------------------------------------------------------------------------
// erf: 0.5·x·(1 + erf(x/√2)); tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). out, inp are (N).
void gelu_forward(float* out, const float* inp, int64_t N, bool tanh_form);
// dinp = dout·gelu'(inp). dinp (may alias dout), dout and inp are (N).
void gelu_backward(float* dinp, const float* dout, const float* inp, int64_t N, bool tanh_form);

// ---- residual -----------------------------------------------------------------------------------
// out = a + b (N). (Backward: the gradient reaches both inputs unchanged; the model accumulates.)
void residual_forward(float* out, const float* a, const float* b, int64_t N);
// out = x + a + b (N): the parallel residual.
void residual3_forward(float* out, const float* x, const float* a, const float* b, int64_t N);

// ---- log-softmax rows of the LM head ----------------------------------------------------------
// lse[r] = log Σ_v exp(logits[r,v]). lse is (R), logits is (R,V).
void logsumexp_rows(float* lse, const float* logits, int64_t R, int64_t V);
// In place: logits[r,:] ← pcoef[r]·softmax(logits[r,:]) + c1[r]·e_{y1[r]} + c2[r]·e_{y2[r]}
// (a one-hot term is skipped where its index is < 0; rows with all three coefficients 0 become 0
// without reading exp). With p = softmax: the loss row (−log p_y, weight g) has pcoef g, c1 −g;
// a token log-prob row (log p_y, weight d) has pcoef −d, c2 d. logits is (R,V), the rest (R).
void xent_backward(float* logits, const float* lse, const float* pcoef, const int32_t* y1,
                   const float* c1, const int32_t* y2, const float* c2, int64_t R, int64_t V);

// ---- row selection (the LM head runs on the rows that need it) ---------------------------------
// dst[i,:] = src[rows[i],:]. dst is (n,C), src is (N,C), rows is (n).
void gather_rows(float* dst, const float* src, const int64_t* rows, int64_t n, int64_t C);
// dst[rows[i],:] += src[i,:] (rows distinct). dst is (N,C), src is (n,C).
void scatter_add_rows(float* dst, const float* src, const int64_t* rows, int64_t n, int64_t C);

// ---- value head ---------------------------------------------------------------------------------
// values[n] = h[n,:]·w + b[0]. values is (N), h is (N,C), w is (C), b is (1).
void value_forward(float* values, const float* h, const float* w, const float* b, int64_t N, int64_t C,
                   float dropout = 0.0f, uint32_t seed = 0);
// dh[n,:] += dvalues[n]·w; dw += Σ_n dvalues[n]·h[n,:]; db += Σ_n dvalues[n].
void value_backward(float* dh, float* dw, float* db, const float* dvalues, const float* h,
                    const float* w, int64_t N, int64_t C, float dropout = 0.0f, uint32_t seed = 0);

}  // namespace neox
}  // namespace rl
