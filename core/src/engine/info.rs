//! INFO's contributors: fields that layers above the engine (the Lua host, the plugin host,
//! plugins) add to a core section, or whole sections of their own. INFO and the metrics
//! endpoint render the same text (`commands::server::info_text`).

use super::Engine;

/// Writes `field:value\r\n` lines (no header) into the text.
pub type InfoWriter = Box<dyn Fn(&Engine, &mut String) + Send>;

/// Identifies a contribution, for [`InfoProviders::remove`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InfoId(u64);

struct Provider {
    id: InfoId,
    /// Lower-case section name (`memory`, or a section of the contributor's own).
    section: String,
    /// The header of a section of its own (`Delayq`); `None` adds to a core section.
    title: Option<String>,
    writer: InfoWriter,
}

/// The registered contributions, in registration order.
#[derive(Default)]
pub struct InfoProviders {
    providers: Vec<Provider>,
    next: u64,
}

impl InfoProviders {
    /// Adds lines to the core section `section` (`memory`, `modules`, ...).
    pub fn add_fields(&mut self, section: &str, writer: InfoWriter) -> InfoId {
        self.push(section, None, writer)
    }

    /// Adds a section of its own, shown under `# title` by `INFO everything` and
    /// `INFO <name>` (as Redis shows modules' sections).
    pub fn add_section(&mut self, title: &str, writer: InfoWriter) -> InfoId {
        self.push(&title.to_ascii_lowercase(), Some(title.to_string()), writer)
    }

    fn push(&mut self, section: &str, title: Option<String>, writer: InfoWriter) -> InfoId {
        self.next += 1;
        let id = InfoId(self.next);
        self.providers.push(Provider {
            id,
            section: section.to_ascii_lowercase(),
            title,
            writer,
        });
        id
    }

    /// Removes a contribution; returns whether it existed.
    pub fn remove(&mut self, id: InfoId) -> bool {
        let before = self.providers.len();
        self.providers.retain(|p| p.id != id);
        self.providers.len() != before
    }

    /// The names of the contributors' own sections, in registration order.
    pub fn own_sections(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in self.providers.iter().filter(|p| p.title.is_some()) {
            if !out.contains(&p.section) {
                out.push(p.section.clone());
            }
        }
        out
    }

    /// Whether `section` is one of the contributors' own.
    pub fn has_section(&self, section: &str) -> bool {
        self.providers
            .iter()
            .any(|p| p.title.is_some() && p.section == section)
    }
}

impl Engine {
    /// Appends the contributions to `section`: the fields added to a core section, or a
    /// contributor's own section with its header.
    pub(crate) fn write_info_contributions(&self, section: &str, out: &mut String) {
        let mut header = false;
        for p in self.info.providers.iter().filter(|p| p.section == section) {
            if let Some(title) = &p.title {
                if !header {
                    out.push_str("# ");
                    out.push_str(title);
                    out.push_str("\r\n");
                    header = true;
                }
            }
            (p.writer)(self, out);
        }
    }
}
