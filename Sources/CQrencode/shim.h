#ifndef POPGATE_CQRENCODE_SHIM_H
#define POPGATE_CQRENCODE_SHIM_H
#include <qrencode.h>
#endif
