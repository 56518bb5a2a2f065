#ifndef POPGATE_CNFTNL_SHIM_H
#define POPGATE_CNFTNL_SHIM_H
// <netinet/in.h> must come before the netfilter headers, or Swift sees two different
// definitions of in_addr when a module imports this shim together with Foundation or NIO.
#include <netinet/in.h>
#include <stdint.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/expr.h>
#include <libnftnl/batch.h>
#endif
