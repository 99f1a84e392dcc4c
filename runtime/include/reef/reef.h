/* reef runtime: everything (kernels, requantization, step table). */
#ifndef REEF_RT_REEF_H
#define REEF_RT_REEF_H

#include "reef/types.h"
#include "reef/requant.h"
#include "reef/conv.h"
#include "reef/dw_conv.h"
#include "reef/fc.h"
#include "reef/add.h"
#include "reef/mean.h"
#include "reef/pool.h"
#include "reef/softmax.h"
#include "reef/reshape_pad.h"
#include "reef/step.h"

#endif
