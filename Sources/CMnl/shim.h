#ifndef POPGATE_CMNL_SHIM_H
#define POPGATE_CMNL_SHIM_H
#include <stddef.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/genetlink.h>
#include <linux/rtnetlink.h>
#endif
