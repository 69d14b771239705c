#ifndef HYPERLOOM_CZEROMQ_SHIM_H
#define HYPERLOOM_CZEROMQ_SHIM_H
#include <zmq.h>
#endif
