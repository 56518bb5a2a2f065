#!/usr/bin/env python3
"""Turn an strace capture of netlink traffic into byte-exact netlink messages.

The capture must come from

    strace -f -yy -e trace=sendmsg,sendto,recvmsg -e write=all -e read=all \\
           -xx -s 65535 -o FILE COMMAND...

strace decodes netlink structurally in the call line; the byte-exact data is
in the hex dumps ("| 00000  20 00 ...") that -e write=all / -e read=all add
after each call, and -yy names each socket's netlink protocol.  This tool
reassembles those dumps, splits them into netlink messages, names
generic-netlink families from the CTRL_CMD_GETFAMILY replies seen in the same
capture, and can write every message to its own .bin file.

    nlcapture.py FILE                       # one summary line per message
    nlcapture.py FILE --write-dir DIR       # also DIR/NNN-send-wireguard-SET_DEVICE.bin ...
    nlcapture.py FILE --expect-set-device wg0 [--private-key BASE64]
                                            # exit 1 unless a WG_CMD_SET_DEVICE
                                            # for wg0 (with that key) was sent
                                            # and acknowledged with error 0
"""
import argparse
import base64
import os
import re
import struct
import sys

NLMSG_ERROR, NLMSG_DONE, GENL_ID_CTRL = 2, 3, 0x10
NLA_TYPE_MASK = 0x3FFF
CTRL_CMD_NEWFAMILY, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 1, 1, 2
WG_CMDS = {0: "GET_DEVICE", 1: "SET_DEVICE"}
WGDEVICE_A_IFNAME, WGDEVICE_A_PRIVATE_KEY = 2, 3
RTM_NAMES = {16: "RTM_NEWLINK", 17: "RTM_DELLINK", 18: "RTM_GETLINK", 20: "RTM_NEWADDR",
             22: "RTM_GETADDR", 24: "RTM_NEWROUTE", 26: "RTM_GETROUTE"}

CALL_RE = re.compile(r"^(?:\[pid\s+)?(\d+)?\]?\s*(?:<\.\.\.\s+)?(sendto|sendmsg|recvmsg)\b")
DUMP_RE = re.compile(r"^\s*\|\s+([0-9a-f]{5})\s+((?:[0-9a-f]{2}\s{1,2}){1,16})")
PROTO_RE = re.compile(r"<NETLINK:\[([A-Z_]+)")


def protocol_of(line):
    """ROUTE, GENERIC, ... from -yy; else guessed from strace's decoding."""
    m = PROTO_RE.search(line)
    if m:
        return m.group(1)
    return "ROUTE" if "nlmsg_type=RTM_" in line else "GENERIC"


def parse_strace(path):
    """Yield (syscall, direction, protocol, bytes) for every call with a hex dump."""
    calls, cur = [], None
    with open(path, "r", errors="replace") as fh:
        for line in fh:
            m = CALL_RE.match(line)
            if m:
                if "unfinished" in line:
                    continue
                cur = {"pid": m.group(1) or "", "call": m.group(2), "data": bytearray(), "line": line.rstrip()}
                calls.append(cur)
                continue
            d = DUMP_RE.match(line)
            if d and cur is not None:
                cur["data"] += bytes.fromhex(d.group(2).replace(" ", ""))
    for c in calls:
        if c["data"]:
            direction = "recv" if c["call"] == "recvmsg" else "send"
            yield c["call"], direction, protocol_of(c["line"]), bytes(c["data"])


def attrs(buf):
    """Top-level netlink attributes of buf as (type, payload) pairs."""
    out, off = [], 0
    while off + 4 <= len(buf):
        nla_len, nla_type = struct.unpack_from("<HH", buf, off)
        if nla_len < 4 or off + nla_len > len(buf):
            break
        out.append((nla_type & NLA_TYPE_MASK, buf[off + 4:off + nla_len]))
        off += (nla_len + 3) & ~3
    return out


def split_messages(datagram):
    off = 0
    while off + 16 <= len(datagram):
        length, mtype, flags, seq, pid = struct.unpack_from("<IHHII", datagram, off)
        if length < 16 or off + length > len(datagram):
            break
        yield datagram[off:off + length], mtype, flags, seq, pid
        off += (length + 3) & ~3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("capture")
    ap.add_argument("--write-dir")
    ap.add_argument("--expect-set-device", metavar="IFNAME")
    ap.add_argument("--private-key", metavar="BASE64")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()

    families = {GENL_ID_CTRL: "nlctrl"}
    msgs = []
    for call, direction, proto, datagram in parse_strace(a.capture):
        for raw, mtype, flags, seq, npid in split_messages(datagram):
            msgs.append((call, direction, proto, raw, mtype, flags, seq, npid))
            if proto == "GENERIC" and direction == "recv" and mtype == GENL_ID_CTRL and len(raw) >= 20 and raw[16] == CTRL_CMD_NEWFAMILY:
                fid = fname = None
                for t, p in attrs(raw[20:]):
                    if t == CTRL_ATTR_FAMILY_ID and len(p) >= 2:
                        fid = struct.unpack_from("<H", p)[0]
                    elif t == CTRL_ATTR_FAMILY_NAME:
                        fname = p.split(b"\0")[0].decode(errors="replace")
                if fid is not None and fname:
                    families[fid] = fname

    if a.write_dir:
        os.makedirs(a.write_dir, exist_ok=True)

    set_device_ok = False
    sent_set_device = {}  # seq -> description
    acked = set()
    for i, (call, direction, proto, raw, mtype, flags, seq, npid) in enumerate(msgs):
        if mtype == NLMSG_ERROR:
            err = struct.unpack_from("<i", raw, 16)[0] if len(raw) >= 20 else None
            what = "ERROR(%s)" % err if err else "ACK"
            if err == 0:
                acked.add(seq)
            kind = "ack" if err == 0 else "error"
        elif mtype == NLMSG_DONE:
            what, kind = "DONE", "done"
        elif proto == "GENERIC" and mtype in families:
            fam = families[mtype]
            cmd = raw[16] if len(raw) > 16 else -1
            cmdname = WG_CMDS.get(cmd, "cmd%d" % cmd) if fam == "wireguard" else "cmd%d" % cmd
            what, kind = "%s %s" % (fam, cmdname), "%s-%s" % (fam, cmdname)
            if fam == "wireguard" and cmd == 1 and direction == "send":
                a_ = dict(attrs(raw[20:]))
                ifname = a_.get(WGDEVICE_A_IFNAME, b"").split(b"\0")[0].decode(errors="replace")
                key = a_.get(WGDEVICE_A_PRIVATE_KEY)
                good = a.expect_set_device is None or ifname == a.expect_set_device
                if a.private_key is not None:
                    good = good and key == base64.b64decode(a.private_key)
                if good:
                    sent_set_device[seq] = ifname
        else:
            what = RTM_NAMES.get(mtype, "type%d" % mtype) if proto == "ROUTE" else "%s type%d" % (proto, mtype)
            kind = what
        if not a.quiet:
            print("%03d %-4s %-7s %-7s len=%-5d type=0x%04x flags=0x%04x seq=%-10d %s"
                  % (i, direction, call, proto, len(raw), mtype, flags, seq, what))
        if a.write_dir:
            name = "%03d-%s-%s.bin" % (i, direction, re.sub(r"[^A-Za-z0-9_.-]+", "-", kind))
            with open(os.path.join(a.write_dir, name), "wb") as fh:
                fh.write(raw)

    if a.expect_set_device is not None:
        for seq, ifname in sent_set_device.items():
            if seq in acked:
                set_device_ok = True
        if not set_device_ok:
            print("nlcapture: no acknowledged WG_CMD_SET_DEVICE for %s%s in %s"
                  % (a.expect_set_device, " with the given private key" if a.private_key else "", a.capture),
                  file=sys.stderr)
            return 1
        if not a.quiet:
            print("nlcapture: WG_CMD_SET_DEVICE for %s found and acknowledged" % a.expect_set_device)
    if not msgs:
        print("nlcapture: no netlink bytes in %s (was strace run with -e write=all -e read=all?)" % a.capture,
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
