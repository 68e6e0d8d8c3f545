//! Any bytes as a P4Info file (binary or text protobuf, detected as `prescient run` does): loading
//! fails with an error or gives a P4Info that indexes or is refused with an error, that renders
//! to text and reads back to the same P4Info; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prescient_southbound::p4runtime::p4info::{parse_text, to_text};
use prescient_southbound::p4runtime::{parse_p4info, P4InfoIndex};

fuzz_target!(|data: &[u8]| {
    // The first byte chooses how the rest is read: through detection, or as text only.
    let [mode, rest @ ..] = data else {
        return;
    };
    let loaded = if mode & 1 == 0 {
        parse_p4info(rest)
    } else {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        parse_text(text)
    };
    let Ok(info) = loaded else {
        return;
    };
    let text = to_text(&info).expect("a decoded P4Info renders as text");
    let again = parse_text(&text).expect("rendered text reads back");
    assert_eq!(again, info, "text round trip changed the P4Info");
    if let Ok(index) = P4InfoIndex::new(info) {
        // An indexed P4Info names each table once; lookups by its own names succeed.
        for table in &index.p4info().tables {
            if let Some(name) = table.preamble.as_ref().map(|p| p.name.as_str()) {
                assert!(index.table(name).is_ok(), "indexed table {name} not found");
            }
        }
    }
});
