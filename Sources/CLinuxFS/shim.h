#ifndef POPGATE_CLINUXFS_SHIM_H
#define POPGATE_CLINUXFS_SHIM_H
// Linux file-system calls glibc declares only under _GNU_SOURCE, which Swift's Glibc module does
// not define. Used by the receipt log (Sources/Receipts/LogFiles.swift) only.
#define _GNU_SOURCE
#include <unistd.h>

/// syncfs(2): flushes every dirty page and inode of the file system holding `fd`.
static inline int popgate_syncfs(int fd) { return syncfs(fd); }
#endif
