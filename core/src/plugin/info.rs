//! Plugins' INFO sections: a registry of contributions that `INFO` renders after the core's
//! sections, each under `# <Title>`, and that `INFO <title>` asks for by name.

use std::any::TypeId;

use crate::engine::Engine;

/// Renders a section's `name:value` fields.
pub type InfoRender = Box<dyn Fn(&mut Engine) -> Vec<(String, String)> + Send>;

struct Section {
    plugin: String,
    title: String,
    render: InfoRender,
}

/// The registered sections, kept in the plugin registry's state map (not owned by any one
/// plugin: each plugin's sections are removed with [`remove_plugin`]).
#[derive(Default)]
struct Sections(Vec<Section>);

fn sections(engine: &mut Engine) -> &mut Vec<Section> {
    let any = engine
        .plugins
        .states
        .entry(TypeId::of::<Sections>())
        .or_insert_with(|| Box::new(Sections::default()));
    &mut any
        .downcast_mut::<Sections>()
        .expect("the INFO registry's type")
        .0
}

/// Adds `plugin`'s section `# <title>`. Refuses a title that a core section or another
/// plugin's section already has (case-insensitively).
pub fn add(
    engine: &mut Engine,
    plugin: &str,
    title: &str,
    render: InfoRender,
) -> Result<(), String> {
    let valid = !title.is_empty()
        && title.len() <= 64
        && title
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(format!(
            "invalid INFO section title '{title}': 1 to 64 letters, digits, '_' or '-'"
        ));
    }
    let lower = title.to_ascii_lowercase();
    let core = crate::commands::server::ALL_SECTIONS.contains(&lower.as_str())
        || ["default", "all", "everything"].contains(&lower.as_str());
    let all = sections(engine);
    if core || all.iter().any(|s| s.title.eq_ignore_ascii_case(title)) {
        return Err(format!("the INFO section '{title}' exists already"));
    }
    all.push(Section {
        plugin: plugin.to_string(),
        title: title.to_string(),
        render,
    });
    Ok(())
}

/// Removes every section of `plugin` (on unload).
pub fn remove_plugin(engine: &mut Engine, plugin: &str) {
    sections(engine).retain(|s| s.plugin != plugin);
}

/// The titles of the plugins' sections, in registration order.
pub fn titles(engine: &mut Engine) -> Vec<String> {
    sections(engine).iter().map(|s| s.title.clone()).collect()
}

/// Appends the sections named in `wanted` (lower case), or all of them, to INFO's text.
pub fn render(engine: &mut Engine, all: bool, wanted: &[String], out: &mut String) {
    // Taken out while rendering: a section's render function gets the engine.
    let mut taken = std::mem::take(sections(engine));
    for s in &taken {
        if !all && !wanted.iter().any(|w| s.title.eq_ignore_ascii_case(w)) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str("# ");
        out.push_str(&s.title);
        out.push_str("\r\n");
        for (name, value) in (s.render)(engine) {
            let clean = |t: &str| t.replace(['\r', '\n'], " ");
            out.push_str(&clean(&name));
            out.push(':');
            out.push_str(&clean(&value));
            out.push_str("\r\n");
        }
    }
    // Sections added while rendering (none expected) go after the old ones.
    let added = std::mem::take(sections(engine));
    taken.extend(added);
    *sections(engine) = taken;
}
