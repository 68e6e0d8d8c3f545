//! `[[devices]]`: names the operator gives switches, shown beside their ids in the API and the
//! dashboard. They win over the names switches report (an Open vSwitch bridge name, an LLDP
//! system name).

use std::collections::BTreeMap;

use prescient_topology::DeviceId;
use serde::Deserialize;

use super::services::Refusal;

/// Longest device name (it labels a dashboard node).
pub const MAX_NAME: usize = 64;

/// One `[[devices]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeviceSection {
    /// `of:<16 hex digits>` (OpenFlow datapath id) or `p4:<device id>` (P4Runtime).
    pub id: String,
    /// What to call it.
    pub name: String,
}

/// The configured names by device, checked: every id parses, none is named twice, no name is
/// given twice, every name is 1 to [`MAX_NAME`] printable characters.
pub fn names(sections: &[DeviceSection]) -> Result<BTreeMap<DeviceId, String>, Refusal> {
    let mut out = BTreeMap::new();
    for (i, d) in sections.iter().enumerate() {
        let refuse = |field: &str, value: &str, why: &str| {
            (
                format!("devices[{i}].{field}"),
                format!("{value:?}"),
                why.to_string(),
            )
        };
        let id = DeviceId::parse(&d.id).ok_or_else(|| {
            refuse(
                "id",
                &d.id,
                "expected of:<up to 16 hex digits> or p4:<decimal device id>",
            )
        })?;
        let name = d.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Err(refuse(
                "name",
                &d.name,
                &format!("must be 1 to {MAX_NAME} printable characters"),
            ));
        }
        if out.insert(id, name.to_string()).is_some() {
            return Err(refuse("id", &d.id, "names a device already named above"));
        }
        // A name labels one node in the API and the dashboard: two devices of one name
        // cannot be told apart there (a copied entry whose name was not changed).
        if let Some(j) = sections[..i].iter().position(|e| e.name.trim() == name) {
            return Err(refuse(
                "name",
                &d.name,
                &format!("is the name of devices[{j}] already"),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(id: &str, name: &str) -> DeviceSection {
        DeviceSection {
            id: id.into(),
            name: name.into(),
        }
    }

    #[test]
    fn ids_of_both_protocols_are_named() {
        let got = names(&[
            section("of:000000000000000b", "ATLAM5"),
            section("p4:4", "core-4"),
        ])
        .expect("valid");
        assert_eq!(
            got.get(&DeviceId::openflow(11)).map(String::as_str),
            Some("ATLAM5")
        );
        assert_eq!(
            got.get(&DeviceId::p4runtime(4)).map(String::as_str),
            Some("core-4")
        );
    }

    #[test]
    fn bad_ids_names_and_repeats_are_refused_naming_the_entry() {
        let (key, _, why) = names(&[section("switch-1", "a")]).unwrap_err();
        assert_eq!(key, "devices[0].id");
        assert!(why.contains("of:"), "{why}");
        let (key, _, _) = names(&[section("p4:1", "a"), section("p4:2", " ")]).unwrap_err();
        assert_eq!(key, "devices[1].name");
        let (key, value, _) =
            names(&[section("of:1", "a"), section("of:0000000000000001", "b")]).unwrap_err();
        assert_eq!(
            (key.as_str(), value.as_str()),
            ("devices[1].id", "\"of:0000000000000001\"")
        );
        let (key, value, why) =
            names(&[section("of:1", "core"), section("of:2", "core ")]).unwrap_err();
        assert_eq!(
            (key.as_str(), value.as_str()),
            ("devices[1].name", "\"core \"")
        );
        assert!(why.contains("devices[0]"), "{why}");
    }
}
