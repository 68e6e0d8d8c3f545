//! Loading a P4Info (`p4.config.v1.P4Info`) from protobuf text format (what p4c writes with
//! `--p4runtime-files x.txtpb`) or binary protobuf. The format is detected from the CONTENT,
//! never the file name: text format is printable UTF-8, while a binary P4Info starts with a
//! field key followed by varint lengths, which are control bytes in practice. When the guess
//! is "text" but text parsing fails, binary decoding is tried before reporting the text error.

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};

use super::error::P4InfoError;
use super::proto::p4::config::v1::P4Info;
use super::proto::FILE_DESCRIPTOR_SET;

/// Encoding of a P4Info file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum P4InfoFormat {
    /// Protobuf text format.
    Text,
    /// Binary protobuf.
    Binary,
}

/// Guesses the encoding of `bytes` from their content.
pub fn detect_format(bytes: &[u8]) -> P4InfoFormat {
    match std::str::from_utf8(bytes) {
        Ok(s)
            if s.chars()
                .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t')) =>
        {
            P4InfoFormat::Text
        }
        _ => P4InfoFormat::Binary,
    }
}

/// Parses a P4Info in either encoding.
pub fn parse_p4info(bytes: &[u8]) -> Result<P4Info, P4InfoError> {
    match detect_format(bytes) {
        P4InfoFormat::Binary => Ok(P4Info::decode(bytes)?),
        P4InfoFormat::Text => {
            let text = std::str::from_utf8(bytes).map_err(|e| P4InfoError::Text(e.to_string()))?;
            match parse_text(text) {
                Ok(info) => Ok(info),
                Err(text_err) => P4Info::decode(bytes).map_err(|_| text_err),
            }
        }
    }
}

/// Reads and parses a P4Info file in either encoding.
pub fn load_p4info_file(path: impl AsRef<std::path::Path>) -> Result<P4Info, P4InfoError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| P4InfoError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_p4info(&bytes)
}

/// Parses protobuf text format.
pub fn parse_text(text: &str) -> Result<P4Info, P4InfoError> {
    let desc = p4info_descriptor()?;
    let dynamic = DynamicMessage::parse_text_format(desc, text)
        .map_err(|e| P4InfoError::Text(e.to_string()))?;
    Ok(P4Info::decode(dynamic.encode_to_vec().as_slice())?)
}

/// Renders a P4Info in protobuf text format (for files and diagnostics).
pub fn to_text(info: &P4Info) -> Result<String, P4InfoError> {
    let desc = p4info_descriptor()?;
    let dynamic = DynamicMessage::decode(desc, info.encode_to_vec().as_slice())?;
    Ok(dynamic.to_text_format())
}

/// Built for each use, not kept: the descriptor pool of the P4Runtime protos is 1 MB of heap,
/// and a controller parses P4Info text only while it reads its configuration.
fn p4info_descriptor() -> Result<MessageDescriptor, P4InfoError> {
    let pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET)
        .map_err(|e| P4InfoError::Descriptor(e.to_string()))?;
    pool.get_message_by_name("p4.config.v1.P4Info")
        .ok_or_else(|| P4InfoError::Descriptor("p4.config.v1.P4Info is missing".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SMALL: &str = r#"
# A two-table program, enough to exercise loading.
pkg_info { arch: "v1model" }
tables {
  preamble { id: 33554433 name: "Ing.fwd" alias: "fwd" }
  match_fields { id: 1 name: "hdr.ipv4.dst_addr" bitwidth: 32 match_type: LPM }
  action_refs { id: 16777217 }
  size: 1024
}
actions {
  preamble { id: 16777217 name: "Ing.forward" alias: "forward" }
  params { id: 1 name: "port" bitwidth: 9 }
}
"#;

    #[test]
    fn text_format_is_detected_and_parsed() {
        assert_eq!(detect_format(SMALL.as_bytes()), P4InfoFormat::Text);
        let info = parse_p4info(SMALL.as_bytes()).expect("parses");
        assert_eq!(info.tables.len(), 1);
        let table = &info.tables[0];
        assert_eq!(
            table.preamble.as_ref().map(|p| p.name.as_str()),
            Some("Ing.fwd")
        );
        assert_eq!(table.match_fields[0].bitwidth, 32);
        assert_eq!(info.actions[0].params[0].name, "port");
    }

    #[test]
    fn binary_is_detected_by_content_and_round_trips() {
        let info = parse_p4info(SMALL.as_bytes()).expect("parses");
        let bytes = info.encode_to_vec();
        assert_eq!(detect_format(&bytes), P4InfoFormat::Binary);
        assert_eq!(parse_p4info(&bytes).expect("binary parses"), info);
        let text = to_text(&info).expect("renders");
        assert_eq!(parse_p4info(text.as_bytes()).expect("re-parses"), info);
    }

    #[test]
    fn the_project_p4info_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../p4/prescient.p4info.txt");
        let info = load_p4info_file(path).expect("prescient.p4info.txt loads");
        assert!(info.tables.len() >= 6);
    }

    #[test]
    fn bad_text_names_the_problem() {
        let err = parse_p4info(b"tables { preamble { idd: 3 } }").expect_err("unknown field");
        let msg = err.to_string();
        assert!(msg.contains("idd"), "{msg}");
        let err = load_p4info_file("/nonexistent/p4info.txt").expect_err("io");
        assert!(err.to_string().contains("/nonexistent/p4info.txt"));
    }
}
