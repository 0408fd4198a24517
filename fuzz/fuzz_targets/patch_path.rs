//! PATCH paths and values: the first line is the path, the rest a JSON value; applied as
//! add, replace and remove to a user and to a group. Never a panic; a user that survives
//! the PATCH is still a valid user.
#![no_main]

use hubbridge::scim::patch::{apply_group, apply_user, OpKind, PatchOp};
use hubbridge::scim::resource::{normalize_user, validate_user_doc};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, value) = text.split_once('\n').unwrap_or((text, ""));
    let value: Option<Value> = serde_json::from_str(value).ok();
    let user = normalize_user(&json!({
        "userName": "ada@example.com",
        "name": {"givenName": "Ada"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true},
                   {"value": "a@home.example", "type": "home"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
    }))
    .expect("the sample user is valid");
    for op in [OpKind::Add, OpKind::Replace, OpKind::Remove] {
        let ops = vec![PatchOp {
            op,
            path: Some(path.to_string()),
            value: value.clone(),
        }];
        let mut doc = user.clone();
        if apply_user(&mut doc, &ops).is_ok() {
            if let Ok(valid) = validate_user_doc(doc) {
                assert!(valid.contains_key("userName"));
            }
        }
        let _ = apply_group(&ops);
    }
});
