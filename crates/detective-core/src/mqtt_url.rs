//! MQTT broker addresses: `mqtt://host[:port]` (port 1883 by default).

/// `mqtt://host[:port]` → (host, port); the error says what is wrong.
pub fn parse(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("mqtt://")
        .ok_or_else(|| format!("{url:?}: expected mqtt://host[:port]"))?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("{url:?}: bad port"))?),
        None => (rest, 1883),
    };
    if host.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_are_parsed_and_checked() {
        assert_eq!(parse("mqtt://127.0.0.1:1883").unwrap(), ("127.0.0.1".into(), 1883));
        assert_eq!(parse("mqtt://broker").unwrap(), ("broker".into(), 1883));
        for bad in ["tcp://x", "mqtt://", "mqtt://x:port"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
