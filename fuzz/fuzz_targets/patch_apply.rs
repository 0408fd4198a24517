//! Whole PATCH bodies: parsed, applied to a user (then re-validated) and to a group.
#![no_main]

use hubbridge::scim::patch::{apply_group, apply_user, parse_ops};
use hubbridge::scim::resource::{normalize_user, validate_user_doc};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(ops) = parse_ops(body, 1000) else {
        return;
    };
    let mut doc = normalize_user(&json!({
        "userName": "ada@example.com",
        "active": true,
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
        "phoneNumbers": [{"value": "+1 555", "type": "mobile"}],
    }))
    .expect("the sample user is valid");
    if apply_user(&mut doc, &ops).is_ok() {
        let _ = validate_user_doc(doc);
    }
    let _ = apply_group(&ops);
});
