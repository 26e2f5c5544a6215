//! The `[plugins.NAME]` sections of the built-in plugins linked into this program: each plugin
//! crate submits a [`PluginSection`] (with `respite_core::builtin_plugin!`), and the loader
//! checks the section against the plugin's own type, so a bad key stops start-up with its
//! file and key path.

use serde::de::DeserializeOwned;

/// Validates a plugin's `[plugins.NAME]` section at configuration load. See [`typed_section`]
/// and [`no_section`].
pub type ConfigCheck = fn(&figment::Figment, &str) -> Result<(), Box<figment::Error>>;

/// A built-in plugin's configuration section.
pub struct PluginSection {
    /// The plugin's name: the section is `[plugins.NAME]`.
    pub name: &'static str,
    /// Checks the section.
    pub check: ConfigCheck,
}

inventory::collect!(PluginSection);

/// Every built-in plugin's section, sorted by name.
pub fn plugin_sections() -> Vec<&'static PluginSection> {
    let mut all: Vec<_> = inventory::iter::<PluginSection>.into_iter().collect();
    all.sort_by_key(|s| s.name);
    all
}

/// A [`ConfigCheck`] that deserializes the section into `T` (which should be
/// `#[serde(deny_unknown_fields, default)]`); a missing section is fine.
pub fn typed_section<T: DeserializeOwned>(
    figment: &figment::Figment,
    key: &str,
) -> Result<(), Box<figment::Error>> {
    if figment.find_value(key).is_err() {
        return Ok(());
    }
    figment.extract_inner::<T>(key).map(|_| ()).map_err(|e| {
        // figment appends the section's path after the field's (`field.plugins.NAME`);
        // operators read key paths from the top.
        let prefix: Vec<String> = key.split('.').map(str::to_string).collect();
        let fixed = e.into_iter().map(|mut err| {
            let mut rest = std::mem::take(&mut err.path);
            if rest.ends_with(&prefix) {
                rest.truncate(rest.len() - prefix.len());
            } else if rest.starts_with(&prefix) {
                rest.drain(..prefix.len());
            }
            err.path = prefix.iter().cloned().chain(rest).collect();
            err
        });
        Box::new(
            fixed
                .reduce(|chain, err| chain.chain(err))
                .unwrap_or_else(|| figment::Error::from(format!("invalid section [{key}]"))),
        )
    })
}

/// A [`ConfigCheck`] for plugins without settings: refuses any key in the section.
pub fn no_section(figment: &figment::Figment, key: &str) -> Result<(), Box<figment::Error>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}
    typed_section::<Nothing>(figment, key)
}
