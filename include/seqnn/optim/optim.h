// seqnn/optim/optim.h: the optimizers, clipping and schedulers in one include.
#pragma once

#include "seqnn/optim/adam.h"
#include "seqnn/optim/clip_grad.h"
#include "seqnn/optim/lr_scheduler.h"
#include "seqnn/optim/optimizer.h"
#include "seqnn/optim/sgd.h"
