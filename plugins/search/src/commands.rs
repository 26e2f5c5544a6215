//! The plugin's command table. Index names are not keys (RediSearch declares none); the
//! suggestion dictionaries of FT.SUG* are named like keys and declared as such.

use respite_core::plugin::api::flags::*;
use respite_core::plugin::api::CommandSpec;

use crate::{
    aggregate, alias, create, document, dropindex, explain, ftconfig, info, search, suggest,
    tagvals,
};

const READ: &[&str] = &["read", "search", "slow"];
const WRITE_CATS: &[&str] = &["write", "search", "slow"];

macro_rules! ft {
    ($name:literal, $arity:expr, $handler:expr, $flags:expr, $cats:expr, $summary:literal) => {
        CommandSpec::new($name, $arity, $handler)
            .flags($flags)
            .categories($cats)
            .doc("search", $summary, "1.0.0", "")
    };
}

/// The plugin's commands.
pub static COMMANDS: &[CommandSpec] = &[
    ft!(
        "ft.create",
        -5,
        create::ft_create,
        WRITE | DENYOOM,
        WRITE_CATS,
        "Creates an index with the given spec"
    ),
    ft!(
        "ft.alter",
        -6,
        create::ft_alter,
        WRITE | DENYOOM,
        WRITE_CATS,
        "Adds a new field to the index"
    ),
    ft!(
        "ft.dropindex",
        -2,
        dropindex::ft_dropindex,
        WRITE,
        WRITE_CATS,
        "Deletes the index"
    ),
    ft!(
        "ft.info",
        2,
        info::ft_info,
        READONLY,
        READ,
        "Returns information and statistics on the index"
    ),
    ft!(
        "ft._list",
        1,
        info::ft_list,
        READONLY,
        READ,
        "Returns a list of all existing indexes"
    ),
    ft!(
        "ft.search",
        -3,
        search::ft_search,
        READONLY,
        READ,
        "Searches the index with a textual query, returning either documents or just ids"
    ),
    ft!(
        "ft.aggregate",
        -3,
        aggregate::ft_aggregate,
        READONLY,
        READ,
        "Run a search query on an index and perform aggregate transformations on the results"
    ),
    ft!(
        "ft.explain",
        -3,
        explain::ft_explain,
        READONLY,
        READ,
        "Returns the execution plan for a complex query"
    ),
    ft!(
        "ft.explaincli",
        -3,
        explain::ft_explaincli,
        READONLY,
        READ,
        "Returns the execution plan for a complex query"
    ),
    ft!(
        "ft.tagvals",
        3,
        tagvals::ft_tagvals,
        READONLY,
        READ,
        "Returns the distinct tags indexed in a Tag field"
    ),
    ft!(
        "ft.aliasadd",
        3,
        alias::ft_aliasadd,
        WRITE,
        WRITE_CATS,
        "Adds an alias to the index"
    ),
    ft!(
        "ft.aliasupdate",
        3,
        alias::ft_aliasupdate,
        WRITE,
        WRITE_CATS,
        "Adds or updates an alias to the index"
    ),
    ft!(
        "ft.aliasdel",
        2,
        alias::ft_aliasdel,
        WRITE,
        WRITE_CATS,
        "Deletes an alias from the index"
    ),
    ft!(
        "ft.config",
        -2,
        ftconfig::ft_config,
        ADMIN,
        &["admin", "search", "slow", "dangerous"],
        "Configures the search engine"
    ),
    ft!(
        "ft.add",
        -6,
        document::ft_add,
        WRITE | DENYOOM,
        WRITE_CATS,
        "Adds a document to the index (a hash under the document id)"
    ),
    ft!(
        "ft.del",
        -3,
        document::ft_del,
        WRITE,
        WRITE_CATS,
        "Deletes a document from the index"
    ),
    ft!(
        "ft.get",
        3,
        document::ft_get,
        READONLY,
        READ,
        "Returns the fields of a document"
    ),
    CommandSpec::new("ft.sugadd", -4, suggest::ft_sugadd)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .categories(WRITE_CATS)
        .doc(
            "search",
            "Adds a suggestion string to an auto-complete suggestion dictionary",
            "1.0.0",
            "",
        ),
    CommandSpec::new("ft.sugget", -3, suggest::ft_sugget)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(READ)
        .doc(
            "search",
            "Gets completion suggestions for a prefix",
            "1.0.0",
            "",
        ),
    CommandSpec::new("ft.sugdel", 3, suggest::ft_sugdel)
        .flags(WRITE)
        .keys(1, 1, 1)
        .categories(WRITE_CATS)
        .doc(
            "search",
            "Deletes a string from a suggestion index",
            "1.0.0",
            "",
        ),
    CommandSpec::new("ft.suglen", 2, suggest::ft_suglen)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(READ)
        .doc(
            "search",
            "Gets the size of an auto-complete suggestion dictionary",
            "1.0.0",
            "",
        ),
];
