//! Any text as `prescient.toml`: parsing and checking either succeeds or names what is wrong, and
//! never panics (the checks do arithmetic on durations, rates, prefixes and ports from the file).
#![no_main]

use libfuzzer_sys::fuzz_target;
use prescient::config::{Config, ConfigError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, "fuzz.toml") {
        // Checking has no hidden state: the same text gives the same configuration.
        Ok(config) => assert_eq!(Config::parse(text, "fuzz.toml").ok(), Some(config)),
        Err(ConfigError::Syntax { path, message }) => {
            assert_eq!(path, "fuzz.toml");
            assert!(!message.is_empty());
        }
        Err(e) => assert!(e.to_string().contains("fuzz.toml"), "error without its file: {e}"),
    }
});
