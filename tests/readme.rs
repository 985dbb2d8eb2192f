//! README.md's reference of resource kinds is generated from the kinds' field tables; this fails
//! when it is out of date (`UPDATE_README=1 cargo test --test readme` rewrites it).

use provision::render::reference;
use provision::resources::Kinds;

const BEGIN: &str = "<!-- BEGIN kinds: generated from the field tables by `UPDATE_README=1 cargo test --test readme` -->\n";
const END: &str = "<!-- END kinds -->";

#[test]
fn readme_kind_reference_matches_the_field_tables() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = text.split_once(BEGIN).expect("README.md has the BEGIN kinds marker");
    let (current, tail) = rest.split_once(END).expect("README.md has the END kinds marker");
    let wanted = reference::markdown(&Kinds);
    if current != wanted {
        if std::env::var_os("UPDATE_README").is_some() {
            std::fs::write(&path, format!("{head}{BEGIN}{wanted}{END}{tail}")).unwrap();
        } else {
            panic!("README.md's kind reference is out of date: run `UPDATE_README=1 cargo test --test readme`");
        }
    }
}
