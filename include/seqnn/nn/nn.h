// seqnn/nn/nn.h: every module and the init functions in one include.
#pragma once

#include "seqnn/nn/activation.h"
#include "seqnn/nn/attention.h"
#include "seqnn/nn/container.h"
#include "seqnn/nn/dropout.h"
#include "seqnn/nn/embedding.h"
#include "seqnn/nn/init.h"
#include "seqnn/nn/linear.h"
#include "seqnn/nn/linear_attention.h"
#include "seqnn/nn/module.h"
#include "seqnn/nn/multihead_attention.h"
#include "seqnn/nn/normalization.h"
#include "seqnn/nn/positional.h"
#include "seqnn/nn/rnn.h"
#include "seqnn/nn/rnn_cell.h"
#include "seqnn/nn/transformer.h"
