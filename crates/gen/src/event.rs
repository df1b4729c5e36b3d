//! Compact in-memory event records and the per-day buffer they are collected in.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Authentication package names, indexed by [`Auth::at`].
pub(crate) const AUTH_TYPES: [&str; 4] = ["Kerberos", "NTLM", "Negotiate", "OAuth"];
/// Logon type names, indexed by [`Auth::lt`].
pub(crate) const LOGON_TYPES: [&str; 5] = [
    "Network",
    "Interactive",
    "RemoteInteractive",
    "Service",
    "Batch",
];
/// Orientation names, indexed by [`Auth::or`].
pub(crate) const ORIENTATIONS: [&str; 4] = ["LogOn", "LogOff", "TGS", "TGT"];

pub(crate) const KERBEROS: u8 = 0;
pub(crate) const NTLM: u8 = 1;
pub(crate) const NEGOTIATE: u8 = 2;
pub(crate) const OAUTH: u8 = 3;

pub(crate) const NETWORK: u8 = 0;
pub(crate) const INTERACTIVE: u8 = 1;
pub(crate) const REMOTE_INTERACTIVE: u8 = 2;
pub(crate) const BATCH: u8 = 4;

pub(crate) const LOGON: u8 = 0;
pub(crate) const LOGOFF: u8 = 1;
pub(crate) const TGS: u8 = 2;
pub(crate) const TGT: u8 = 3;

/// Seconds in a day.
pub(crate) const DAY: i64 = 86_400;
/// Latest second of a day at which an event may start, leaving room for its flows.
const LAST: i64 = DAY - 120;

/// One authentication line; the identity is both source and destination user.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Auth {
    pub t: i64,
    pub ident: u32,
    pub src: u32,
    pub dst: u32,
    pub at: u8,
    pub lt: u8,
    pub or: u8,
    pub ok: bool,
}

/// One flow line.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flow {
    pub t: i64,
    pub dur: u32,
    pub src: u32,
    pub sport: u32,
    pub dst: u32,
    pub dport: u16,
    pub proto: u8,
    pub packets: u32,
    pub bytes: u64,
}

/// An inclusive range of a flow attribute.
type Span = (u32, u32);

/// A flow from `src` to `dst` on service port `port`, sized plausibly for that service
/// (protocol, duration, packets and bytes per packet depend on the port).
pub(crate) fn make_flow(t: i64, src: u32, dst: u32, port: u16, rng: &mut ChaCha8Rng) -> Flow {
    let (proto, d, p, b): (u8, Span, Span, Span) = match port {
        53 => (17, (0, 0), (2, 2), (60, 220)),
        123 => (17, (0, 0), (2, 2), (76, 76)),
        88 => (6, (0, 1), (4, 8), (150, 420)),
        389 => (6, (0, 2), (6, 30), (80, 300)),
        445 => (6, (0, 60), (8, 600), (100, 1200)),
        5985 => (6, (1, 40), (12, 300), (150, 1100)),
        1433 | 5432 => (6, (0, 10), (6, 80), (80, 900)),
        443 => (6, (0, 180), (10, 3000), (200, 1400)),
        80 | 8080 => (6, (0, 10), (4, 120), (100, 1200)),
        9100 => (6, (0, 1), (8, 14), (900, 2200)),
        3389 => (6, (120, 5400), (2000, 80_000), (100, 900)),
        _ => (6, (0, 30), (4, 100), (60, 1000)),
    };
    let packets = rng.gen_range(p.0..=p.1);
    Flow {
        t,
        dur: rng.gen_range(d.0..=d.1),
        src,
        sport: rng.gen_range(1024..65536),
        dst,
        dport: port,
        proto,
        packets,
        bytes: packets as u64 * rng.gen_range(b.0..=b.1) as u64,
    }
}

/// A heavy transfer (backups, batch exports, exfiltration): one long flow of 20–1100 MB.
pub(crate) fn make_heavy_flow(t: i64, src: u32, dst: u32, port: u16, rng: &mut ChaCha8Rng) -> Flow {
    let mut f = make_flow(t, src, dst, port, rng);
    f.dur = rng.gen_range(300..3600);
    f.packets = rng.gen_range(20_000..800_000);
    f.bytes = f.packets as u64 * rng.gen_range(900..1400);
    f
}

/// Everything generated for one day, before sorting and writing.
pub(crate) struct DayBuf {
    /// First second of the day.
    pub start: i64,
    pub auth: Vec<Auth>,
    pub flows: Vec<Flow>,
}

impl DayBuf {
    /// Absolute time of second-of-day `sec`, kept inside the day.
    pub fn at(&self, sec: i64) -> i64 {
        self.start + sec.clamp(0, LAST)
    }

    /// Pushes one authentication line.
    #[allow(clippy::too_many_arguments)]
    pub fn auth(
        &mut self,
        t: i64,
        ident: u32,
        src: u32,
        dst: u32,
        at: u8,
        lt: u8,
        or: u8,
        ok: bool,
    ) {
        self.auth.push(Auth {
            t,
            ident,
            src,
            dst,
            at,
            lt,
            or,
            ok,
        });
    }

    /// Pushes one flow line.
    pub fn flow(&mut self, t: i64, src: u32, dst: u32, port: u16, rng: &mut ChaCha8Rng) {
        self.flows.push(make_flow(t, src, dst, port, rng));
    }

    /// A successful Network LogOn with 1–3 flows on `port` starting 0–30 s later, and sometimes
    /// a LogOff recorded on the destination.
    #[allow(clippy::too_many_arguments)]
    pub fn net_logon(
        &mut self,
        t: i64,
        ident: u32,
        src: u32,
        dst: u32,
        at: u8,
        port: u16,
        rng: &mut ChaCha8Rng,
    ) {
        self.auth(t, ident, src, dst, at, NETWORK, LOGON, true);
        self.flow(t + rng.gen_range(0..=5), src, dst, port, rng);
        let extra = match rng.gen_range(0..20) {
            0 => 2,
            1..=5 => 1,
            _ => 0,
        };
        for _ in 0..extra {
            self.flow(t + rng.gen_range(0..=30), src, dst, port, rng);
        }
        if rng.gen_range(0..8) == 0 {
            self.auth(
                t + rng.gen_range(1..=60),
                ident,
                dst,
                dst,
                at,
                NETWORK,
                LOGOFF,
                true,
            );
        }
    }

    /// A heavy transfer (backups, batch exports): one long, large flow.
    pub fn heavy_flow(&mut self, t: i64, src: u32, dst: u32, port: u16, rng: &mut ChaCha8Rng) {
        self.flows.push(make_heavy_flow(t, src, dst, port, rng));
    }
}

/// Pushes into `out` the seconds of a recurring activity between `from` and `to` with mean period
/// `period` (each gap uniformly 0.5–1.5 periods).
pub(crate) fn recurring(rng: &mut ChaCha8Rng, from: i64, to: i64, period: i64, out: &mut Vec<i64>) {
    out.clear();
    let mut t = from + rng.gen_range(0..period);
    while t < to {
        out.push(t);
        t += period / 2 + rng.gen_range(0..period);
    }
}
