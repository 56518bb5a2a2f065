#!/usr/bin/env python3
"""Extracts the WG_CMD_GET_DEVICE dump (data messages and NLMSG_DONE) from an strace capture made by
capture-vectors.sh, byte for byte, from the hex dumps strace prints after each recvmsg on the generic
netlink socket.

    extract-dump.py wg-showconf.strace FAMILY_ID OUT.bin      (FAMILY_ID in hex, e.g. 0x20)
"""
import re
import struct
import sys


def main() -> int:
    path, family, out_path = sys.argv[1], int(sys.argv[2], 16), sys.argv[3]
    chunks, current = [], None
    for line in open(path, encoding="utf-8", errors="replace"):
        if re.match(r"^\d+\s+\w+\(", line):
            if current is not None:
                chunks.append(current)
            current = bytearray() if ("recvmsg(" in line and "GENERIC" in line) else None
            continue
        dump = re.match(r"^\s*\|\s+[0-9a-f]{5}\s+(.*)$", line)
        if dump and current is not None:
            # 16 bytes per line, in two groups of eight; the ASCII column follows.
            tokens = re.findall(r"\b[0-9a-f]{2}\b", dump.group(1)[:50])
            current += bytes.fromhex("".join(tokens[:16]))
    if current is not None:
        chunks.append(current)
    out = bytearray()
    for chunk in chunks:
        offset = 0
        while offset + 16 <= len(chunk):
            length, kind = struct.unpack_from("<IH", chunk, offset)
            if length < 16:
                break
            if kind in (family, 3):
                out += chunk[offset:offset + ((length + 3) & ~3)]
            offset += (length + 3) & ~3
    open(out_path, "wb").write(out)
    print(f"{len(out)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
