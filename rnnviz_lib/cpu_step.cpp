// Time loops of the CPU training step (rnnviz_lib/cpu_step.py): forward with every gate
// stored, and the hand-derived backward through time. Matmuls and the sigmoid/tanh go to ATen
// (BLAS and vectorised kernels); the remaining gate arithmetic of one step is one fused loop
// over the B x H units. The caller owns every output buffer (reused from step to step, so
// no page is faulted in again). Tensors are contiguous, time-major: (T, B, G*H) gates, (T, B, H) states.
#include <torch/extension.h>
#include <vector>

using torch::Tensor;

// ---------------------------------------------------------------------------------------
// LSTM, PyTorch's gate order i, f, g, o. act: (T, B, 4H) holds W x + b_ih + b_hh on entry and
// the gates after their nonlinearity on return (the recurrent term is added in place, step by
// step). tanh(x) = 2 sigmoid(2x) - 1, so one sigmoid call covers all four gates.
void lstm_forward(Tensor WhhT, Tensor h0, Tensor c0, Tensor act, Tensor C, Tensor TC, Tensor Hs) {
  const int64_t T = act.size(0), B = act.size(1), G = act.size(2), H = G / 4;
  C[0].copy_(c0);
  Hs[0].copy_(h0);
  AT_DISPATCH_FLOATING_TYPES(act.scalar_type(), "lstm_forward", [&] {
    scalar_t* pact = act.data_ptr<scalar_t>();
    scalar_t* pC = C.data_ptr<scalar_t>();
    for (int64_t t = 0; t < T; ++t) {
      Tensor a = act.select(0, t);
      a.addmm_(Hs.select(0, t), WhhT);
      scalar_t* pa = pact + t * B * G;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 2 * H; j < 3 * H; ++j) pa[b * G + j] *= 2;
      at::sigmoid_(a);
      const scalar_t* cp = pC + t * B * H;
      scalar_t* cn = pC + (t + 1) * B * H;
      for (int64_t b = 0; b < B; ++b) {
        scalar_t* r = pa + b * G;
        for (int64_t j = 0; j < H; ++j) {
          scalar_t g = 2 * r[2 * H + j] - 1;
          r[2 * H + j] = g;
          cn[b * H + j] = r[H + j] * cp[b * H + j] + r[j] * g;
        }
      }
      Tensor tc = TC.select(0, t);
      at::tanh_out(tc, C.select(0, t + 1));
      Tensor hn = Hs.select(0, t + 1);
      at::mul_out(hn, a.narrow(1, 3 * H, H), tc);
    }
  });
}

// d_out: (T, B, H) gradient of the layer's outputs; Whh: (4H, H). Returns dA (T, B, 4H), the
// gradient of the pre-activations (the same for the input and the recurrent side), in dA.
void lstm_backward(Tensor d_out, Tensor Whh, Tensor act, Tensor C, Tensor TC, Tensor dA) {
  const int64_t T = act.size(0), B = act.size(1), G = act.size(2), H = G / 4;
  auto dh_next = torch::zeros({B, H}, act.options());
  auto dc = torch::zeros({B, H}, act.options());
  AT_DISPATCH_FLOATING_TYPES(act.scalar_type(), "lstm_backward", [&] {
    scalar_t* pdc = dc.data_ptr<scalar_t>();
    const scalar_t* pdn = dh_next.data_ptr<scalar_t>();
    for (int64_t t = T - 1; t >= 0; --t) {
      const scalar_t* pact = act.data_ptr<scalar_t>() + t * B * G;
      const scalar_t* pcp = C.data_ptr<scalar_t>() + t * B * H;
      const scalar_t* ptc = TC.data_ptr<scalar_t>() + t * B * H;
      const scalar_t* pdo = d_out.data_ptr<scalar_t>() + t * B * H;
      scalar_t* pd = dA.data_ptr<scalar_t>() + t * B * G;
      for (int64_t b = 0; b < B; ++b) {
        const scalar_t* r = pact + b * G;
        scalar_t* d = pd + b * G;
        for (int64_t j = 0; j < H; ++j) {
          const int64_t k = b * H + j;
          const scalar_t i = r[j], f = r[H + j], g = r[2 * H + j], o = r[3 * H + j], tc = ptc[k];
          const scalar_t dh = pdo[k] + pdn[k];
          const scalar_t c = pdc[k] + dh * o * (1 - tc * tc);
          d[j] = c * g * i * (1 - i);
          d[H + j] = c * pcp[k] * f * (1 - f);
          d[2 * H + j] = c * i * (1 - g * g);
          d[3 * H + j] = dh * tc * o * (1 - o);
          pdc[k] = c * f;
        }
      }
      at::mm_out(dh_next, dA.select(0, t), Whh);
    }
  });
}

// ---------------------------------------------------------------------------------------
// GRU, nn.GRU's form. gx: (T, B, 3H) = W x + b_ih; bhh (3H). Stores r, z, n and U_n h + b_hn.
void gru_forward(Tensor gx, Tensor WhhT, Tensor bhh, Tensor h0, Tensor RZ, Tensor N, Tensor HN, Tensor Hs) {
  const int64_t T = gx.size(0), B = gx.size(1), G = gx.size(2), H = G / 3;
  auto gh = torch::empty({B, G}, gx.options());
  Hs[0].copy_(h0);
  AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "gru_forward", [&] {
    for (int64_t t = 0; t < T; ++t) {
      at::addmm_out(gh, bhh, Hs.select(0, t), WhhT);
      const scalar_t* px = gx.data_ptr<scalar_t>() + t * B * G;
      const scalar_t* pg = gh.data_ptr<scalar_t>();
      scalar_t* prz = RZ.data_ptr<scalar_t>() + t * B * 2 * H;
      scalar_t* phn = HN.data_ptr<scalar_t>() + t * B * H;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < 2 * H; ++j) prz[b * 2 * H + j] = px[b * G + j] + pg[b * G + j];
      Tensor rz = RZ.select(0, t);
      at::sigmoid_(rz);
      scalar_t* pn = N.data_ptr<scalar_t>() + t * B * H;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < H; ++j) {
          const scalar_t hn = pg[b * G + 2 * H + j];
          phn[b * H + j] = hn;
          pn[b * H + j] = px[b * G + 2 * H + j] + prz[b * 2 * H + j] * hn;
        }
      Tensor nt = N.select(0, t);
      at::tanh_(nt);
      const scalar_t* php = Hs.data_ptr<scalar_t>() + t * B * H;
      scalar_t* ph = Hs.data_ptr<scalar_t>() + (t + 1) * B * H;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < H; ++j) {
          const int64_t k = b * H + j;
          const scalar_t z = prz[b * 2 * H + H + j];
          ph[k] = pn[k] + z * (php[k] - pn[k]);  // (1 - z) n + z h
        }
    }
  });
}

// Writes dgx, dgh: gradients of the input-side and recurrent-side pre-activations (T, B, 3H).
void gru_backward(Tensor d_out, Tensor Whh, Tensor RZ, Tensor N, Tensor HN, Tensor Hs, Tensor dgx, Tensor dgh) {
  const int64_t T = N.size(0), B = N.size(1), H = N.size(2), G = 3 * H;
  auto dh_next = torch::zeros({B, H}, N.options());
  auto direct = torch::empty({B, H}, N.options());
  AT_DISPATCH_FLOATING_TYPES(N.scalar_type(), "gru_backward", [&] {
    for (int64_t t = T - 1; t >= 0; --t) {
      const scalar_t* prz = RZ.data_ptr<scalar_t>() + t * B * 2 * H;
      const scalar_t* pn = N.data_ptr<scalar_t>() + t * B * H;
      const scalar_t* phn = HN.data_ptr<scalar_t>() + t * B * H;
      const scalar_t* php = Hs.data_ptr<scalar_t>() + t * B * H;
      const scalar_t* pdo = d_out.data_ptr<scalar_t>() + t * B * H;
      const scalar_t* pdn = dh_next.data_ptr<scalar_t>();
      scalar_t* pdir = direct.data_ptr<scalar_t>();
      scalar_t* px = dgx.data_ptr<scalar_t>() + t * B * G;
      scalar_t* ph = dgh.data_ptr<scalar_t>() + t * B * G;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < H; ++j) {
          const int64_t k = b * H + j;
          const scalar_t r = prz[b * 2 * H + j], z = prz[b * 2 * H + H + j], n = pn[k];
          const scalar_t dh = pdo[k] + pdn[k];
          const scalar_t dn = dh * (1 - z) * (1 - n * n);
          const scalar_t dr = dn * phn[k] * r * (1 - r);
          const scalar_t dz = dh * (php[k] - n) * z * (1 - z);
          px[b * G + j] = dr;
          px[b * G + H + j] = dz;
          px[b * G + 2 * H + j] = dn;
          ph[b * G + j] = dr;
          ph[b * G + H + j] = dz;
          ph[b * G + 2 * H + j] = dn * r;
          pdir[k] = dh * z;
        }
      at::addmm_out(dh_next, direct, dgh.select(0, t), Whh);
    }
  });
}

// ---------------------------------------------------------------------------------------
// Plain tanh RNN. Hs: (T + 1, B, H); Hs[1:] holds W x + b_ih + b_hh on entry, the states on return.
void rnn_forward(Tensor WhhT, Tensor h0, Tensor Hs) {
  const int64_t T = Hs.size(0) - 1;
  Hs[0].copy_(h0);
  for (int64_t t = 0; t < T; ++t) {
    Tensor h = Hs.select(0, t + 1);
    h.addmm_(Hs.select(0, t), WhhT);
    at::tanh_(h);
  }
}

void rnn_backward(Tensor d_out, Tensor Whh, Tensor Hs, Tensor dA) {
  const int64_t T = d_out.size(0), B = d_out.size(1), H = d_out.size(2);
  auto dh_next = torch::zeros({B, H}, d_out.options());
  AT_DISPATCH_FLOATING_TYPES(d_out.scalar_type(), "rnn_backward", [&] {
    for (int64_t t = T - 1; t >= 0; --t) {
      const scalar_t* ph = Hs.data_ptr<scalar_t>() + (t + 1) * B * H;
      const scalar_t* pdo = d_out.data_ptr<scalar_t>() + t * B * H;
      const scalar_t* pdn = dh_next.data_ptr<scalar_t>();
      scalar_t* pd = dA.data_ptr<scalar_t>() + t * B * H;
      for (int64_t k = 0; k < B * H; ++k) pd[k] = (pdo[k] + pdn[k]) * (1 - ph[k] * ph[k]);
      at::mm_out(dh_next, dA.select(0, t), Whh);
    }
  });
}
