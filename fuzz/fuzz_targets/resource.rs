//! Resource JSON: any bytes as a User or a Group body. Never a panic; an accepted user
//! normalises to itself.
#![no_main]

use hubbridge::scim::groups::parse_input;
use hubbridge::scim::resource::normalize_user;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(doc) = normalize_user(&body) {
        let again = normalize_user(&Value::Object(doc.clone())).expect("stored form is valid");
        assert_eq!(again, doc, "normalising is idempotent");
    }
    let _ = parse_input(&body);
});
