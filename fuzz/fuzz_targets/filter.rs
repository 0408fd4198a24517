//! Filter strings: parsing, resolution against both resource types, SQL rendering for both
//! backends. Any input must give a tree or a SCIM error, never a panic.
#![no_main]

use hubbridge::scim::filter::{parse, to_cond, Resource};
use hubbridge::store::sql::Fragment;
use hubbridge::store::Backend;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filter) = parse(raw, 8192) else {
        return;
    };
    for resource in [Resource::User, Resource::Group] {
        if let Ok(cond) = to_cond(resource, &filter) {
            for backend in [Backend::Sqlite, Backend::Postgres] {
                let mut f = Fragment::new(backend);
                f.cond(&cond);
                assert!(!f.sql.is_empty());
            }
        }
    }
});
