// seqnn/io/io.h: all of seqnn's file formats - safetensors, .npy and checkpoints.
#pragma once

#include "seqnn/io/checkpoint.h"
#include "seqnn/io/npy.h"
#include "seqnn/io/safetensors.h"
