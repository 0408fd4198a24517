//! Rebuilds when a migration is added or changed: the migrations are embedded in the binary
//! (`embed_migrations!`), and cargo does not see a new file in that folder on its own.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
