//! Decoding the kernel's records (pure). The format is `bpf/wire.h`: a
//! 72-byte header, a fixed part per type, then the strings the fixed part
//! counts. Records come from the kernel, but are still checked as untrusted
//! bytes: every length is bounds-checked and a bad record is an error, never
//! a panic or a guess.

/// Record types (`EV_*` in `bpf/wire.h`).
pub mod ev {
    pub const EXEC: u16 = 1;
    pub const FORK: u16 = 2;
    pub const EXIT: u16 = 3;
    pub const CONNECT: u16 = 4;
    pub const ACCEPT: u16 = 5;
    pub const BIND: u16 = 6;
    pub const LISTEN: u16 = 7;
    pub const OPEN: u16 = 8;
    pub const PRIV: u16 = 9;
    pub const PTRACE: u16 = 10;
    pub const MOUNT: u16 = 11;
    pub const MODULE: u16 = 12;
    pub const CGROUP_MKDIR: u16 = 13;
    /// One past the last type.
    pub const MAX: u16 = 14;

    /// Whether a type travels on the priority lane (`lane_priority` in
    /// `bpf/common.h`): everything but the high-volume opens, connects and
    /// accepts. The priority lane has its own ring buffer and a reserve in
    /// the queue to the consumer, so a flood of bulk records cannot push
    /// an exec (or a ptrace, a mount, a privilege change) out.
    pub fn priority_lane(t: u16) -> bool {
        !matches!(t, OPEN | CONNECT | ACCEPT)
    }

    /// The name of a record type, as used in metrics.
    pub fn name(t: u16) -> &'static str {
        match t {
            EXEC => "exec",
            FORK => "fork",
            EXIT => "exit",
            CONNECT => "connect",
            ACCEPT => "accept",
            BIND => "bind",
            LISTEN => "listen",
            OPEN => "open",
            PRIV => "privilege_change",
            PTRACE => "ptrace",
            MOUNT => "mount",
            MODULE => "module_load",
            CGROUP_MKDIR => "cgroup_mkdir",
            _ => "unknown",
        }
    }
}

/// `hdr.flags` bits.
pub mod flag {
    pub const TRUNC_0: u16 = 1 << 0;
    pub const TRUNC_1: u16 = 1 << 1;
    pub const TRUNC_2: u16 = 1 << 2;
    pub const TRUNC_3: u16 = 1 << 3;
    pub const OUTSIDE_ROOT: u16 = 1 << 4;
    pub const DELETED: u16 = 1 << 5;
}

pub const HDR_LEN: usize = 72;

/// Why a record could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("record of {got} bytes is shorter than the {need} its type needs")]
    Short { need: usize, got: usize },
    #[error("record declares {declared} bytes but is {got}")]
    Size { declared: usize, got: usize },
    #[error("unknown record type {0}")]
    UnknownType(u16),
    #[error("strings of a type-{kind} record run past its end")]
    Strings { kind: u16 },
    #[error("a type-{kind} record has {extra} bytes after its last string")]
    Trailing { kind: u16, extra: usize },
}

/// The header every record starts with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub kind: u16,
    pub flags: u16,
    pub ts_boot_ns: u64,
    pub cgroup_id: u64,
    pub pid: u32,
    pub tgid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub mnt_ns: u32,
    pub pid_ns: u32,
    pub net_ns: u32,
    pub comm: Vec<u8>,
}

/// Which socket operation a [`Body::Sock`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOp {
    Connect,
    Accept,
    Bind,
    Listen,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sock {
    pub op: SockOp,
    pub result: i64,
    pub family: u16,
    pub sock_type: u16,
    pub protocol: u16,
    pub lport: u16,
    pub rport: u16,
    pub fd: u32,
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
    pub path: Vec<u8>,
}

/// The type-specific part of a record, strings as raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Exec {
        exe_ino: u64,
        exe_dev: u32,
        via: u8,
        stdio: [u8; 3],
        exe: Vec<u8>,
        filename: Vec<u8>,
        argv: Vec<u8>,
        cwd: Vec<u8>,
    },
    Fork {
        child_pid: u32,
        child_tgid: u32,
    },
    Exit {
        status: u32,
    },
    Sock(Sock),
    Open {
        result: i64,
        flags: u32,
        resolved: bool,
        path: Vec<u8>,
        base: Vec<u8>,
    },
    Priv {
        result: i64,
        old: u64,
        new: u64,
        kind: u8,
    },
    Ptrace {
        result: i64,
        request: i64,
        target: u32,
    },
    Mount {
        result: i64,
        flags: u64,
        source: Vec<u8>,
        target: Vec<u8>,
        fs_type: Vec<u8>,
    },
    Module {
        result: i64,
        name: Vec<u8>,
    },
    CgroupMkdir {
        id: u64,
        level: u32,
        path: Vec<u8>,
    },
}

/// One decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub header: Header,
    pub body: Body,
}

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    kind: u16,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or(WireError::Short {
            need: self.pos.saturating_add(n),
            got: self.buf.len(),
        })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn skip(&mut self, n: usize) -> Result<(), WireError> {
        self.bytes(n).map(drop)
    }
    /// The strings area: `lens` strings back to back.
    fn strings<const N: usize>(&mut self, lens: [u16; N]) -> Result<[Vec<u8>; N], WireError> {
        let kind = self.kind;
        let mut out: [Vec<u8>; N] = std::array::from_fn(|_| Vec::new());
        for (slot, len) in out.iter_mut().zip(lens) {
            *slot = self
                .bytes(usize::from(len))
                .map_err(|_| WireError::Strings { kind })?
                .to_vec();
        }
        Ok(out)
    }
}

/// Decodes one record as the ring buffer delivered it.
pub fn decode(buf: &[u8]) -> Result<Record, WireError> {
    if buf.len() < HDR_LEN {
        return Err(WireError::Short {
            need: HDR_LEN,
            got: buf.len(),
        });
    }
    let mut r = Reader {
        buf,
        pos: 0,
        kind: 0,
    };
    let header = header(&mut r)?;
    let body = match header.kind {
        ev::EXEC => exec(&mut r)?,
        ev::FORK => Body::Fork {
            child_pid: r.u32()?,
            child_tgid: r.u32()?,
        },
        ev::EXIT => {
            let status = r.u32()?;
            r.skip(4)?;
            Body::Exit { status }
        }
        ev::CONNECT => Body::Sock(sock(&mut r, SockOp::Connect)?),
        ev::ACCEPT => Body::Sock(sock(&mut r, SockOp::Accept)?),
        ev::BIND => Body::Sock(sock(&mut r, SockOp::Bind)?),
        ev::LISTEN => Body::Sock(sock(&mut r, SockOp::Listen)?),
        ev::OPEN => open(&mut r)?,
        ev::PRIV => privilege(&mut r)?,
        ev::PTRACE => {
            let (result, request, target) = (r.i64()?, r.i64()?, r.u32()?);
            r.skip(4)?;
            Body::Ptrace {
                result,
                request,
                target,
            }
        }
        ev::MOUNT => mount(&mut r)?,
        ev::MODULE => {
            let result = r.i64()?;
            let len = r.u16()?;
            r.skip(6)?;
            let [name] = r.strings([len])?;
            Body::Module { result, name }
        }
        ev::CGROUP_MKDIR => {
            let (id, level, len) = (r.u64()?, r.u32()?, r.u16()?);
            r.skip(2)?;
            let [path] = r.strings([len])?;
            Body::CgroupMkdir { id, level, path }
        }
        other => return Err(WireError::UnknownType(other)),
    };
    if r.pos != buf.len() {
        return Err(WireError::Trailing {
            kind: header.kind,
            extra: buf.len() - r.pos,
        });
    }
    Ok(Record { header, body })
}

fn header(r: &mut Reader<'_>) -> Result<Header, WireError> {
    let kind = r.u16()?;
    r.kind = kind;
    let flags = r.u16()?;
    let size = r.u32()? as usize;
    if size != r.buf.len() {
        return Err(WireError::Size {
            declared: size,
            got: r.buf.len(),
        });
    }
    let mut h = Header {
        kind,
        flags,
        ts_boot_ns: r.u64()?,
        cgroup_id: r.u64()?,
        pid: r.u32()?,
        tgid: r.u32()?,
        ppid: r.u32()?,
        uid: r.u32()?,
        gid: r.u32()?,
        mnt_ns: r.u32()?,
        pid_ns: r.u32()?,
        net_ns: r.u32()?,
        comm: Vec::new(),
    };
    let comm = r.bytes(16)?;
    let end = comm.iter().position(|b| *b == 0).unwrap_or(comm.len());
    h.comm = comm[..end].to_vec();
    Ok(h)
}

fn exec(r: &mut Reader<'_>) -> Result<Body, WireError> {
    let exe_ino = r.u64()?;
    let exe_dev = r.u32()?;
    let via = r.u8()?;
    let stdio = r.array::<3>()?;
    let lens = [r.u16()?, r.u16()?, r.u16()?, r.u16()?];
    let [exe, filename, argv, cwd] = r.strings(lens)?;
    Ok(Body::Exec {
        exe_ino,
        exe_dev,
        via,
        stdio,
        exe,
        filename,
        argv,
        cwd,
    })
}

fn sock(r: &mut Reader<'_>, op: SockOp) -> Result<Sock, WireError> {
    let result = r.i64()?;
    let (family, sock_type, protocol) = (r.u16()?, r.u16()?, r.u16()?);
    let (lport, rport, path_len) = (r.u16()?, r.u16()?, r.u16()?);
    let fd = r.u32()?;
    let laddr = r.array::<16>()?;
    let raddr = r.array::<16>()?;
    let [path] = r.strings([path_len])?;
    Ok(Sock {
        op,
        result,
        family,
        sock_type,
        protocol,
        lport,
        rport,
        fd,
        laddr,
        raddr,
        path,
    })
}

fn open(r: &mut Reader<'_>) -> Result<Body, WireError> {
    let result = r.i64()?;
    let flags = r.u32()?;
    let lens = [r.u16()?, r.u16()?];
    let resolved = r.u8()? == 1;
    r.skip(7)?;
    let [path, base] = r.strings(lens)?;
    Ok(Body::Open {
        result,
        flags,
        resolved,
        path,
        base,
    })
}

fn privilege(r: &mut Reader<'_>) -> Result<Body, WireError> {
    let (result, old, new, kind) = (r.i64()?, r.u64()?, r.u64()?, r.u8()?);
    r.skip(7)?;
    Ok(Body::Priv {
        result,
        old,
        new,
        kind,
    })
}

fn mount(r: &mut Reader<'_>) -> Result<Body, WireError> {
    let (result, flags) = (r.i64()?, r.u64()?);
    let lens = [r.u16()?, r.u16()?, r.u16()?];
    r.skip(2)?;
    let [source, target, fs_type] = r.strings(lens)?;
    Ok(Body::Mount {
        result,
        flags,
        source,
        target,
        fs_type,
    })
}

/// Builds records byte for byte as the kernel lays them out (tests, the
/// decoder fuzzing below, and benchmarks).
pub mod build {
    use super::HDR_LEN;

    /// A record of type `kind` with header fields set from `pid` and
    /// `cgroup_id`, the fixed part `fixed` and the strings `strings`.
    pub fn record(kind: u16, pid: u32, cgroup_id: u64, fixed: &[u8], strings: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HDR_LEN + fixed.len() + 64);
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // size, patched below
        out.extend_from_slice(&1_000u64.to_le_bytes());
        out.extend_from_slice(&cgroup_id.to_le_bytes());
        for v in [pid, pid, 1, 0, 0, 11, 12, 13] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let mut comm = [0u8; 16];
        comm[..2].copy_from_slice(b"sh");
        out.extend_from_slice(&comm);
        out.extend_from_slice(fixed);
        for s in strings {
            out.extend_from_slice(s);
        }
        let size = u32::try_from(out.len()).unwrap_or(u32::MAX);
        out[4..8].copy_from_slice(&size.to_le_bytes());
        out
    }

    /// The fixed part of an exec record for these strings.
    pub fn exec_fixed(ino: u64, via: u8, lens: [usize; 4]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&ino.to_le_bytes());
        f.extend_from_slice(&0x0080_0001u32.to_le_bytes()); // dev 8:1
        f.push(via);
        f.extend_from_slice(&[4, 4, 4]);
        for l in lens {
            f.extend_from_slice(&u16::try_from(l).unwrap_or(u16::MAX).to_le_bytes());
        }
        f
    }

    /// A complete exec record.
    pub fn exec(pid: u32, cgroup_id: u64, exe: &str, argv: &[&str]) -> Vec<u8> {
        let argv: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
        let cwd = b"/";
        let fixed = exec_fixed(7, 0, [exe.len(), exe.len(), argv.len(), cwd.len()]);
        record(
            super::ev::EXEC,
            pid,
            cgroup_id,
            &fixed,
            &[exe.as_bytes(), exe.as_bytes(), &argv, cwd],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_record_decodes_every_field() {
        let rec = decode(&build::exec(42, 9, "/bin/busybox", &["sh", "-c", "id"])).unwrap();
        assert_eq!(rec.header.kind, ev::EXEC);
        assert_eq!(
            (rec.header.pid, rec.header.tgid, rec.header.cgroup_id),
            (42, 42, 9)
        );
        assert_eq!(
            (rec.header.mnt_ns, rec.header.pid_ns, rec.header.net_ns),
            (11, 12, 13)
        );
        assert_eq!(rec.header.comm, b"sh");
        let Body::Exec {
            exe,
            argv,
            cwd,
            exe_ino,
            stdio,
            ..
        } = rec.body
        else {
            panic!("not an exec body");
        };
        assert_eq!(exe, b"/bin/busybox");
        assert_eq!(argv, b"sh\0-c\0id\0");
        assert_eq!(cwd, b"/");
        assert_eq!((exe_ino, stdio), (7, [4, 4, 4]));
    }

    #[test]
    fn fixed_parts_have_the_c_sizes() {
        // Mirrors the _Static_asserts in bpf/wire.h.
        let fixed = build::exec_fixed(1, 0, [0; 4]);
        assert_eq!(fixed.len(), 24);
        let sock = build::record(ev::CONNECT, 1, 1, &[0u8; 56], &[]);
        assert_eq!(sock.len(), HDR_LEN + 56);
        assert!(decode(&sock).is_ok());
        for (kind, len) in [
            (ev::OPEN, 24),
            (ev::PRIV, 32),
            (ev::PTRACE, 24),
            (ev::MOUNT, 24),
            (ev::MODULE, 16),
            (ev::CGROUP_MKDIR, 16),
            (ev::FORK, 8),
            (ev::EXIT, 8),
        ] {
            let rec = build::record(kind, 1, 1, &vec![0u8; len], &[]);
            assert!(decode(&rec).is_ok(), "type {kind}");
            let short = build::record(kind, 1, 1, &vec![0u8; len - 1], &[]);
            assert!(
                matches!(decode(&short), Err(WireError::Short { .. })),
                "type {kind} short"
            );
        }
    }

    #[test]
    fn string_lengths_past_the_end_are_rejected() {
        let fixed = build::exec_fixed(1, 0, [100, 0, 0, 0]);
        let rec = build::record(ev::EXEC, 1, 1, &fixed, &[b"/bin/sh"]);
        assert_eq!(decode(&rec), Err(WireError::Strings { kind: ev::EXEC }));
    }

    #[test]
    fn bytes_after_the_last_string_are_rejected() {
        let fixed = build::exec_fixed(1, 0, [2, 0, 0, 0]);
        let rec = build::record(ev::EXEC, 1, 1, &fixed, &[b"/x", b"junk"]);
        assert_eq!(
            decode(&rec),
            Err(WireError::Trailing {
                kind: ev::EXEC,
                extra: 4
            })
        );
    }

    #[test]
    fn declared_size_must_match() {
        let mut rec = build::exec(1, 1, "/x", &["x"]);
        rec.push(0);
        assert!(matches!(decode(&rec), Err(WireError::Size { .. })));
    }

    #[test]
    fn unknown_type_and_runt_records_are_errors() {
        let rec = build::record(99, 1, 1, &[], &[]);
        assert_eq!(decode(&rec), Err(WireError::UnknownType(99)));
        assert!(matches!(decode(&[1, 0, 0]), Err(WireError::Short { .. })));
    }

    #[test]
    fn every_prefix_of_a_record_is_an_error_not_a_panic() {
        let rec = build::exec(1, 1, "/bin/busybox", &["sh", "-c", "true"]);
        for n in 0..rec.len() {
            assert!(decode(&rec[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: xorshift bytes with a valid size field.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for round in 0..5_000usize {
            let len = HDR_LEN + round % 200;
            let mut buf: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x & 0xff) as u8
                })
                .collect();
            buf[0] = (round % 16) as u8;
            buf[1] = 0;
            buf[4..8].copy_from_slice(&(len as u32).to_le_bytes());
            let _ = decode(&buf);
        }
    }
}
