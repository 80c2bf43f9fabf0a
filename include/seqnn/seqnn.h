// seqnn/seqnn.h: everything in one include.
//
// A worked example: fit y = 2x - 1 with one Linear layer.
//
//   #include <seqnn/seqnn.h>
//   using namespace seqnn;
//
//   int main() {
//     manual_seed(0);
//     auto model = std::make_shared<nn::Linear>(nn::LinearOptions(1, 1));   // weight (1,1), bias (1)
//     optim::SGD opt(model->parameters(), optim::SGDOptions(0.1));
//     Tensor x = randn({64, 1});
//     Tensor y = x * 2.0 - 1.0;
//     for (int step = 0; step < 100; ++step) {
//       opt.zero_grad();
//       Tensor loss = mse_loss(model->forward(x), y);
//       loss.backward();                                   // reverse-mode autograd
//       opt.step();
//     }
//     std::cout << model->weight << " " << model->bias << "\n";   // ~2 and ~-1
//   }
//
// (tests/downstream/main.cpp builds exactly this against the installed package.)
//
// The layers, from the bottom: Tensor (tensor.h, random.h), the autograd tape (autograd.h),
// tensor ops with PyTorch's names (ops.h), fused recurrent layers (recurrent.h), modules (nn/),
// optimizers (optim/), files (io/), whole-run checkpoints (train/).
#pragma once

#include "seqnn/attention.h"
#include "seqnn/autograd.h"
#include "seqnn/ctc.h"
#include "seqnn/debug.h"
#include "seqnn/error.h"
#include "seqnn/io/io.h"
#include "seqnn/nn/nn.h"
#include "seqnn/ops.h"
#include "seqnn/optim/optim.h"
#include "seqnn/random.h"
#include "seqnn/recurrent.h"
#include "seqnn/tensor.h"
#include "seqnn/threads.h"
#include "seqnn/train/checkpoint.h"
