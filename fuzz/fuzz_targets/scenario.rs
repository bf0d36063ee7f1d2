//! Any bytes as a scenario file: the parser must answer with a scenario or
//! a positioned error, never panic; a scenario it accepts must serialize.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match harness::scenario::parse(Path::new("fuzz.json"), text) {
        Ok(sc) => {
            serde_json::to_string(&sc).expect("an accepted scenario serializes");
            // Payloads of accepted scenarios can be built (small ones: the
            // parser allows up to 64 MiB, which is slow, not wrong).
            for c in &sc.connections {
                for st in &c.streams {
                    let small = !matches!(
                        st.send,
                        harness::scenario::Payload::Generate { len, .. } if len > 1 << 20
                    );
                    if small {
                        st.send.bytes(c.repeat.saturating_sub(1));
                    }
                }
            }
        }
        Err(e) => assert!(e.0.starts_with("fuzz.json"), "unpositioned error: {}", e.0),
    }
});
