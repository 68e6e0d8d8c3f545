//! The text forms the API takes (MACs, IPv4 addresses, device, port and link ids, names), as
//! the OpenAPI patterns that describe them. Each pattern accepts exactly what the server's
//! parser accepts (a test checks both directions), so a client or a schema-driven fuzzer that
//! follows the document is never refused for a form the document allows.

use utoipa::openapi::schema::{Array, ArrayBuilder, Object, ObjectBuilder, Type};

/// `aa:bb:cc:dd:ee:ff`, either case.
pub const MAC: &str = "^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$";

const OCTET: &str = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";

/// Decimal text of a number at most `max`, leading zeros allowed (as Rust's integer parsers
/// take it): shorter numbers, then, digit by digit, a smaller digit after `max`'s prefix.
fn decimal_at_most(max: u64) -> String {
    let digits = max.to_string();
    let len = digits.len();
    let mut alternatives = Vec::new();
    if len > 1 {
        alternatives.push(format!("[0-9]{{1,{}}}", len - 1));
    }
    for (i, d) in digits.bytes().enumerate() {
        if d > b'0' {
            let rest = len - i - 1;
            let tail = if rest > 0 {
                format!("[0-9]{{{rest}}}")
            } else {
                String::new()
            };
            alternatives.push(format!("{}[0-{}]{tail}", &digits[..i], char::from(d - 1)));
        }
    }
    alternatives.push(digits);
    format!("0*({})", alternatives.join("|"))
}

fn device() -> String {
    format!("(of:[0-9A-Fa-f]{{1,16}}|p4:{})", decimal_at_most(u64::MAX))
}

fn port() -> String {
    decimal_at_most(u64::from(u32::MAX))
}

/// A name of a service, tenant or event: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub const NAME: &str = "^[A-Za-z0-9._-]{1,64}$";

/// Dotted-quad IPv4 without leading zeros (what `Ipv4Addr` parses).
pub fn ipv4_pattern() -> String {
    format!("^{OCTET}(\\.{OCTET}){{3}}$")
}

/// `of:<1–16 hex digits>` or `p4:<a decimal u64>`.
pub fn device_pattern() -> String {
    format!("^{}$", device())
}

/// `<device>:<port>,<device>:<port>`.
pub fn link_pattern() -> String {
    let (d, p) = (device(), port());
    format!("^{d}:{p},{d}:{p}$")
}

/// A device id, a host MAC or a host's IPv4 address.
pub fn endpoint_pattern() -> String {
    format!(
        "^({}|[0-9A-Fa-f]{{2}}(:[0-9A-Fa-f]{{2}}){{5}}|{OCTET}(\\.{OCTET}){{3}})$",
        device()
    )
}

/// A host MAC or a host's IPv4 address.
pub fn host_pattern() -> String {
    format!("^([0-9A-Fa-f]{{2}}(:[0-9A-Fa-f]{{2}}){{5}}|{OCTET}(\\.{OCTET}){{3}})$")
}

fn text(pattern: String, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

/// Schema of an IPv4 prefix `a.b.c.d/len` (a bare address is a /32).
pub fn ipv4_prefix() -> Object {
    text(
        format!("^{OCTET}(\\.{OCTET}){{3}}(/(3[0-2]|[0-2]?[0-9]))?$"),
        "IPv4 prefix `a.b.c.d/len`",
    )
}

/// Schema of a MAC.
pub fn mac() -> Object {
    text(MAC.to_string(), "MAC `aa:bb:cc:dd:ee:ff`")
}

/// Schema of an IPv4 address.
pub fn ipv4() -> Object {
    text(ipv4_pattern(), "IPv4 address `a.b.c.d`")
}

/// Schema of a device id.
pub fn device_id() -> Object {
    text(device_pattern(), "Device id `of:<hex>` or `p4:<decimal>`")
}

/// Schema of a link id.
pub fn link() -> Object {
    text(link_pattern(), "Link id `<device>:<port>,<device>:<port>`")
}

/// Schema of a list of link ids (a path), absent or null for none.
pub fn links() -> Array {
    ArrayBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Array,
            Type::Null,
        ]))
        .items(link())
        .build()
}

/// Schema of a reservation endpoint.
pub fn endpoint() -> Object {
    text(
        endpoint_pattern(),
        "Device id (`of:<hex>`, `p4:<decimal>`), host MAC or a known host's IPv4 address",
    )
}

/// Schema of a host given by MAC or IPv4 address.
pub fn host() -> Object {
    text(host_pattern(), "Host MAC or a known host's IPv4 address")
}

/// A unicast MAC (the low bit of the first octet clear): what a backend may have.
pub const UNICAST_MAC: &str = "^[0-9A-Fa-f][02468AaCcEe](:[0-9A-Fa-f]{2}){5}$";

fn nullable(pattern: &str, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

/// Schema of a unicast MAC.
pub fn unicast_mac() -> Object {
    text(UNICAST_MAC.to_string(), "Unicast MAC `aa:bb:cc:dd:ee:ff`")
}

/// Schema of a unicast MAC that may be absent or null.
pub fn optional_unicast_mac() -> Object {
    nullable(UNICAST_MAC, "Unicast MAC `aa:bb:cc:dd:ee:ff`")
}

/// Schema of a name that may be absent or null.
pub fn optional_name() -> Object {
    nullable(NAME, "1 to 64 of `A-Z a-z 0-9 . _ -`")
}

/// Schema of a name.
pub fn name() -> Object {
    text(NAME.to_string(), "1 to 64 of `A-Z a-z 0-9 . _ -`")
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;
    use proptest::string::string_regex;
    use regex::Regex;

    use super::*;
    use crate::vocab::naming::{parse_link, parse_mac};
    use prescient_topology::DeviceId;

    fn re(p: &str) -> Regex {
        Regex::new(p).expect("pattern compiles")
    }

    /// Strings the pattern describes (the generator wants it without anchors).
    fn from(p: &str) -> proptest::string::RegexGeneratorStrategy<String> {
        string_regex(p.trim_start_matches('^').trim_end_matches('$')).expect("generates")
    }

    /// Text near the forms: the pieces they are made of, shuffled.
    fn near() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("of:".to_string()),
                Just("p4:".to_string()),
                Just(":".to_string()),
                Just(",".to_string()),
                Just(".".to_string()),
                Just("+".to_string()),
                "[0-9a-fA-F]{1,3}",
                "[0-9]{1,20}",
                "[g-z ]",
            ],
            0..12,
        )
        .prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn generated_forms_are_parsed(
            mac in from(MAC),
            ip in from(&ipv4_pattern()),
            link in from(&link_pattern()),
            dev in from(&device_pattern()),
        ) {
            prop_assert!(parse_mac(&mac).is_some(), "{mac}");
            prop_assert!(ip.parse::<Ipv4Addr>().is_ok(), "{ip}");
            prop_assert!(parse_link(&link).is_some(), "{link}");
            prop_assert!(DeviceId::parse(&dev).is_some(), "{dev}");
        }

        #[test]
        fn what_is_parsed_matches_the_pattern(t in near()) {
            prop_assert_eq!(parse_mac(&t).is_some(), re(MAC).is_match(&t), "{}", t);
            prop_assert_eq!(t.parse::<Ipv4Addr>().is_ok(), re(&ipv4_pattern()).is_match(&t), "{}", t);
            prop_assert_eq!(parse_link(&t).is_some(), re(&link_pattern()).is_match(&t), "{}", t);
            prop_assert_eq!(DeviceId::parse(&t).is_some(), re(&device_pattern()).is_match(&t), "{}", t);
        }
    }

    #[test]
    fn the_edges_of_each_form() {
        let link = re(&link_pattern());
        assert!(link.is_match("of:1:4294967295,p4:18446744073709551615:0"));
        assert!(link.is_match("of:1:0004294967295,p4:1:0"));
        assert!(!link.is_match("of:1:4294967296,p4:1:0"));
        assert!(!re(&device_pattern()).is_match("p4:18446744073709551616"));
        assert!(DeviceId::parse("p4:18446744073709551616").is_none());
        assert!(DeviceId::parse("p4:18446744073709551615").is_some());
        assert!(!re(MAC).is_match("+a:bb:cc:dd:ee:ff"));
        assert!(parse_mac("+a:bb:cc:dd:ee:ff").is_none());
        assert!(!re(&ipv4_pattern()).is_match("01.2.3.4"));
    }
}
