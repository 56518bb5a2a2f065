#ifndef POPGATE_CSODIUM_SHIM_H
#define POPGATE_CSODIUM_SHIM_H
#include <sodium.h>
#endif
