//! OCSF 1.x events as JSON lines: Authentication (class 3002) on the auth stream and Network
//! Activity (class 4001) on the flows stream. The other of the two classes is skipped on each
//! stream; any other class is an unknown value.
//!
//! Authentication: `time` (epoch ms) → time; `user.name` (with `user.domain` as `name@DOMAIN`),
//! else `user.uid` → identity; `src_endpoint.hostname`, else `.ip` → source;
//! `dst_endpoint.hostname`, else `.ip`, else `service.name` → destination; `service.name` →
//! service; `user.credential_uid`, else `session.credential_uid` → credential;
//! `activity_id` 1 logon, 2 logoff, 3 TGT, 4/5 TGS, other → other; `status_id` 2 → failure;
//! `auth_protocol_id` 1 NTLM, 2 Kerberos, 6 OAuth 2.0, 11 Basic → cleartext, 0/absent unknown,
//! else other (or `auth_protocol` by name); `logon_type_id` is Windows' numbering (1 System → other).
//!
//! Network Activity: `src_endpoint`/`dst_endpoint` (hostname, else ip; port) → hosts and ports,
//! `connection_info.protocol_num` (else `protocol_name`), `traffic.packets`/`bytes`,
//! `duration` (ms, else `end_time - start_time`), `start_time`, else `time` → time. Activities 4
//! Fail and 5 Refuse reached nothing and are skipped.

use crate::json;
use crate::norm::{self, present};
use crate::{name, DecodeError, LineDecoder, Reason, Stream};
use reachwatch_model::{
    AuthEvent, AuthProtocol, Event, FlowEvent, Interner, LogonType, Orientation, Outcome,
};
use serde_json::Value;

/// Decoder for OCSF events on one stream.
#[derive(Clone, Copy, Debug)]
pub struct Decoder(pub Stream);

fn time_ms(v: &Value, paths: &[&str]) -> Result<Option<i64>, DecodeError> {
    match json::number(v, paths).map_err(|e| DecodeError::new(Reason::BadTime, e.detail))? {
        None => Ok(None),
        Some(ms) => norm::millis(ms).map(Some),
    }
}

fn endpoint(
    v: &Value,
    syms: &mut Interner,
    side: &'static str,
) -> Result<Option<reachwatch_model::Sym>, DecodeError> {
    let host = json::text(v, &[&format!("{side}.hostname")])?;
    let ip = json::text(v, &[&format!("{side}.ip")])?;
    norm::host_or_ip(syms, side, host.as_deref(), ip.as_deref())
}

fn auth(v: &Value, syms: &mut Interner) -> Result<Event, DecodeError> {
    let time = time_ms(v, &["time"])?
        .ok_or_else(|| DecodeError::new(Reason::BadTime, "missing `time`"))?;
    let user = json::text(v, &["user.name"])?;
    let domain = json::text(v, &["user.domain"])?;
    let identity = match present(user.as_deref()) {
        Some(u) => norm::account(u, domain.as_deref()),
        None => {
            let uid = json::text(v, &["user.uid"])?;
            present(uid.as_deref())
                .ok_or_else(|| norm::missing("user.name"))?
                .to_string()
        }
    };
    let identity = name(syms, "user.name", identity.as_bytes())?;
    let svc = json::text(v, &["service.name"])?;
    let service = match present(svc.as_deref()) {
        Some(s) => Some(name(syms, "service.name", s.as_bytes())?),
        None => None,
    };
    let dst = match endpoint(v, syms, "dst_endpoint")? {
        Some(d) => d,
        None => service.ok_or_else(|| norm::missing("dst_endpoint"))?,
    };
    let src = endpoint(v, syms, "src_endpoint")?;
    let cred = json::text(v, &["user.credential_uid", "session.credential_uid"])?;
    let credential = match present(cred.as_deref()) {
        Some(c) => Some(name(syms, "credential_uid", c.as_bytes())?),
        None => None,
    };
    let orientation = match json::unsigned(v, &["activity_id"])? {
        Some(1) => Orientation::LogOn,
        Some(2) => Orientation::LogOff,
        Some(3) => Orientation::Tgt,
        Some(4 | 5) => Orientation::Tgs,
        Some(_) => Orientation::Other,
        None => return Err(norm::missing("activity_id")),
    };
    let outcome = match json::unsigned(v, &["status_id"])? {
        Some(2) => Outcome::Failure,
        _ => Outcome::Success,
    };
    let protocol = match json::unsigned(v, &["auth_protocol_id"])? {
        Some(1) => AuthProtocol::Ntlm,
        Some(2) => AuthProtocol::Kerberos,
        Some(6) => AuthProtocol::Oauth,
        Some(11) => AuthProtocol::Cleartext,
        Some(0) | None => norm::protocol(json::text(v, &["auth_protocol"])?.as_deref()),
        Some(_) => AuthProtocol::Other,
    };
    let logon = match json::unsigned(v, &["logon_type_id"])? {
        None | Some(0) => LogonType::Unknown,
        Some(1) => LogonType::Other,
        Some(n) => LogonType::parse(n.to_string().as_bytes()),
    };
    Ok(Event::Auth(AuthEvent {
        time,
        identity,
        src,
        dst,
        service,
        protocol,
        logon,
        orientation,
        outcome,
        credential,
    }))
}

fn flow(v: &Value, syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
    if matches!(json::unsigned(v, &["activity_id"])?, Some(4 | 5)) {
        return Ok(None);
    }
    let start = time_ms(v, &["start_time"])?;
    let time = match start {
        Some(t) => t,
        None => time_ms(v, &["time"])?
            .ok_or_else(|| DecodeError::new(Reason::BadTime, "missing `time`"))?,
    };
    let duration = match json::unsigned(v, &["duration"])? {
        Some(d) => d,
        None => match (start, time_ms(v, &["end_time"])?) {
            (Some(s), Some(e)) if e >= s => (e - s) as u64,
            _ => 0,
        },
    };
    let src = endpoint(v, syms, "src_endpoint")?.ok_or_else(|| norm::missing("src_endpoint"))?;
    let dst = endpoint(v, syms, "dst_endpoint")?.ok_or_else(|| norm::missing("dst_endpoint"))?;
    let protocol = match json::unsigned(v, &["connection_info.protocol_num"])? {
        Some(n) if n <= 255 => n as u8,
        Some(n) => return Err(norm::bad_number("protocol_num", &n.to_string(), "0–255")),
        None => norm::ip_protocol(json::text(v, &["connection_info.protocol_name"])?.as_deref())?,
    };
    Ok(Some(Event::Flow(FlowEvent {
        time,
        duration: duration.min(u32::MAX as u64) as u32,
        src,
        dst,
        src_port: json::port(v, &["src_endpoint.port"])?,
        dst_port: json::port(v, &["dst_endpoint.port"])?,
        protocol,
        packets: json::unsigned(v, &["traffic.packets"])?.unwrap_or(0),
        bytes: json::unsigned(v, &["traffic.bytes"])?.unwrap_or(0),
    })))
}

impl LineDecoder for Decoder {
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let v = json::object(line)?;
        let class =
            json::unsigned(&v, &["class_uid"])?.ok_or_else(|| norm::missing("class_uid"))?;
        match (class, self.0) {
            (3002, Stream::Auth) => auth(&v, syms).map(Some),
            (4001, Stream::Flows) => flow(&v, syms),
            (3002 | 4001, _) => Ok(None),
            (c, _) => Err(norm::unknown_value(
                "class_uid",
                &c.to_string(),
                "3002 (Authentication) or 4001 (Network Activity)",
            )),
        }
    }
}
