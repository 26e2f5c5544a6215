//! Geospatial commands (Redis's geo.c): GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH,
//! GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their `_RO` forms.
//!
//! Points are sorted-set members whose scores are Redis's 52-bit interleaved geohashes
//! ([`super::geohash`]), so ZSCORE agrees with redis-server. A search reads only the score
//! ranges of the (at most nine) cells around its centre, as Redis does, through the sorted
//! set's score-range reads.

use bytes::Bytes;

use super::geohash::{self, Search, Shape};
use super::long_double::parse_f64;
use super::table::{flags::*, CommandSpec};
use super::zset::{store_result, zadd_apply, AddFlags};
use super::{eq_ci, err_not_integer, err_store, err_syntax, err_wrongtype, parse_i64};
use crate::engine::Ctx;
use crate::keyspace::ZSet;
use crate::protocol::Reply;
use crate::storage::{ScoreBound, StoreError, ZRange};

const GROUP: &str = "geo";
const CAT_READ: &[&str] = &["read", "geo", "slow"];
const CAT_WRITE: &[&str] = &["write", "geo", "slow"];
const O_SEARCH: &str = "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape";

/// Geospatial commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("geoadd", -5, geoadd)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .categories(CAT_WRITE)
        .doc(
            GROUP,
            "Adds one or more members to a geospatial index. The key is created if it doesn't exist.",
            "3.2.0",
            "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        ),
    CommandSpec::new("geodist", -4, geodist)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(CAT_READ)
        .doc(GROUP, "Returns the distance between two members of a geospatial index.", "3.2.0", "O(log(N))"),
    CommandSpec::new("geohash", -2, geohash_cmd)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(CAT_READ)
        .doc(GROUP, "Returns members from a geospatial index as geohash strings.", "3.2.0", "O(log(N)) for each member requested, where N is the number of elements in the sorted set."),
    CommandSpec::new("geopos", -2, geopos)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(CAT_READ)
        .doc(GROUP, "Returns the longitude and latitude of members from a geospatial index.", "3.2.0", "O(N) where N is the number of members requested."),
    CommandSpec::new("geosearch", -7, geosearch)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(CAT_READ)
        .doc(GROUP, "Queries a geospatial index for members inside an area of a box or a circle.", "6.2.0", O_SEARCH),
    CommandSpec::new("geosearchstore", -8, geosearchstore)
        .flags(WRITE | DENYOOM)
        .keys(1, 2, 1)
        .categories(CAT_WRITE)
        .doc(GROUP, "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.", "6.2.0", O_SEARCH),
    CommandSpec::new("georadius", -6, georadius)
        .flags(WRITE | DENYOOM | MOVABLE_KEYS)
        .keys(1, 1, 1)
        .categories(CAT_WRITE)
        .doc(GROUP, "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.", "3.2.0", O_SEARCH),
    CommandSpec::new("georadius_ro", -6, georadius_ro)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(CAT_READ)
        .doc(GROUP, "Returns members from a geospatial index that are within a distance from a coordinate.", "3.2.10", O_SEARCH),
    CommandSpec::new("georadiusbymember", -5, georadiusbymember)
        .flags(WRITE | DENYOOM | MOVABLE_KEYS)
        .keys(1, 1, 1)
        .categories(CAT_WRITE)
        .doc(GROUP, "Queries a geospatial index for members within a distance from a member, optionally stores the result.", "3.2.0", O_SEARCH),
    CommandSpec::new("georadiusbymember_ro", -5, georadiusbymember_ro)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(CAT_READ)
        .doc(GROUP, "Returns members from a geospatial index that are within a distance from a member.", "3.2.10", O_SEARCH),
];

// ---------------------------------------------------------------------------------------
// Arguments.

fn err_float() -> Reply {
    Reply::error("ERR value is not a valid float")
}

/// extractLongLatOrReply.
fn parse_lonlat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), Reply> {
    let lon = parse_f64(lon).ok_or_else(err_float)?;
    let lat = parse_f64(lat).ok_or_else(err_float)?;
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(Reply::Error(
            format!("ERR invalid longitude,latitude pair {lon:.6},{lat:.6}").into(),
        ));
    }
    Ok((lon, lat))
}

/// extractUnitOrReply: metres per unit.
fn parse_unit(u: &[u8]) -> Result<f64, Reply> {
    if eq_ci(u, "m") {
        Ok(1.0)
    } else if eq_ci(u, "km") {
        Ok(1000.0)
    } else if eq_ci(u, "ft") {
        Ok(0.3048)
    } else if eq_ci(u, "mi") {
        Ok(1609.34)
    } else {
        Err(Reply::error(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// extractDistanceOrReply: the radius and the unit.
fn parse_radius(r: &[u8], unit: &[u8]) -> Result<(f64, f64), Reply> {
    let r = parse_f64(r).ok_or_else(|| Reply::error("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err(Reply::error("ERR radius cannot be negative"));
    }
    Ok((r, parse_unit(unit)?))
}

/// extractBoxOrReply: width, height and the unit.
fn parse_box(w: &[u8], h: &[u8], unit: &[u8]) -> Result<(f64, f64, f64), Reply> {
    let w = parse_f64(w).ok_or_else(|| Reply::error("ERR need numeric width"))?;
    let h = parse_f64(h).ok_or_else(|| Reply::error("ERR need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(Reply::error("ERR height or width cannot be negative"));
    }
    Ok((w, h, parse_unit(unit)?))
}

/// A coordinate as Redis replies it: human form (`%.17Lf`), a double in RESP3.
fn coord_reply(v: f64) -> Reply {
    Reply::HumanDouble(v)
}

fn distance_reply(d: f64) -> Reply {
    Reply::bulk(format!("{d:.4}"))
}

/// The scores of `members` in the sorted set at `key` (a read: a hit or a miss), or the
/// reply for a key of another type. A missing key gives no scores at all.
fn scores_of(ctx: &mut Ctx<'_>, key: &[u8], members: &[Bytes]) -> Result<Vec<Option<f64>>, Reply> {
    let (db, now) = (ctx.db(), ctx.now);
    match ctx.engine.keyspace.read(db, key, now) {
        Ok(None) => Ok(vec![None; members.len()]),
        Ok(Some(r)) => {
            let z = r.entry.value.as_zset().ok_or_else(err_wrongtype)?;
            members
                .iter()
                .map(|m| z.score(r.store, m).map_err(|e| err_store(&e)))
                .collect()
        }
        Err(e) => Err(err_store(&e)),
    }
}

// ---------------------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS.

fn geoadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut f = AddFlags::default();
    let mut i = 2;
    while let Some(arg) = argv.get(i) {
        if eq_ci(arg, "nx") {
            f.nx = true;
        } else if eq_ci(arg, "xx") {
            f.xx = true;
        } else if eq_ci(arg, "ch") {
            f.ch = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &argv[i..];
    if rest.is_empty() || rest.len() % 3 != 0 || (f.xx && f.nx) {
        return err_syntax();
    }
    let mut pairs = Vec::with_capacity(rest.len() / 3);
    for t in rest.chunks_exact(3) {
        let (lon, lat) = match parse_lonlat(&t[0], &t[1]) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let Some(score) = geohash::score_of(lon, lat) else {
            return Reply::Error(
                format!("ERR invalid longitude,latitude pair {lon:.6},{lat:.6}").into(),
            );
        };
        pairs.push((score, &t[2]));
    }
    zadd_apply(ctx, &argv[1], &f, &pairs)
}

fn geodist(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let unit = match argv.len() {
        4 => 1.0,
        5 => match parse_unit(&argv[4]) {
            Ok(u) => u,
            Err(r) => return r,
        },
        _ => return err_syntax(),
    };
    let scores = match scores_of(ctx, &argv[1], &argv[2..4]) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match (scores[0], scores[1]) {
        (Some(a), Some(b)) => {
            let (a, b) = (geohash::decode_score(a), geohash::decode_score(b));
            distance_reply(geohash::distance(a.0, a.1, b.0, b.1) / unit)
        }
        _ => Reply::Null,
    }
}

fn geohash_cmd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let scores = match scores_of(ctx, &argv[1], &argv[2..]) {
        Ok(s) => s,
        Err(r) => return r,
    };
    Reply::Array(
        scores
            .into_iter()
            .map(|s| match s.and_then(geohash::standard_geohash) {
                Some(text) => Reply::bulk(text.to_vec()),
                None => Reply::Null,
            })
            .collect(),
    )
}

fn geopos(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let scores = match scores_of(ctx, &argv[1], &argv[2..]) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let out = scores
        .into_iter()
        .map(|s| match s {
            Some(score) => {
                let (lon, lat) = geohash::decode_score(score);
                Reply::Array(vec![coord_reply(lon), coord_reply(lat)])
            }
            None => Reply::NullArray,
        })
        .collect();
    Reply::Array(out)
}

// ---------------------------------------------------------------------------------------
// The searches (georadiusGeneric).

/// Which command: how its first arguments read and what it may do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// GEORADIUS[_RO] key lon lat radius unit.
    Coords,
    /// GEORADIUSBYMEMBER[_RO] key member radius unit.
    Member,
    /// GEOSEARCH key ... / GEOSEARCHSTORE dst key ...
    Search,
}

struct Point {
    member: Bytes,
    score: f64,
    lon: f64,
    lat: f64,
    dist: f64,
}

fn georadius(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ctx, argv, 1, Kind::Coords, false, None)
}

fn georadius_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ctx, argv, 1, Kind::Coords, true, None)
}

fn georadiusbymember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ctx, argv, 1, Kind::Member, false, None)
}

fn georadiusbymember_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ctx, argv, 1, Kind::Member, true, None)
}

fn geosearch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ctx, argv, 1, Kind::Search, true, None)
}

fn geosearchstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let dst = argv[1].clone();
    search_generic(ctx, argv, 2, Kind::Search, true, Some(dst))
}

/// The position of `member` in the sorted set at `key` (no hit counted: the command's read
/// of the key was counted already).
fn member_position(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    member: &[u8],
) -> Result<Option<(f64, f64)>, Reply> {
    let (db, now) = (ctx.db(), ctx.now);
    match ctx.engine.keyspace.peek(db, key, now) {
        Ok(Some(r)) => match r.entry.value.as_zset() {
            Some(z) => Ok(z
                .score(r.store, member)
                .map_err(|e| err_store(&e))?
                .map(geohash::decode_score)),
            None => Err(err_wrongtype()),
        },
        Ok(None) => Ok(None),
        Err(e) => Err(err_store(&e)),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

fn search_generic(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    src_at: usize,
    kind: Kind,
    nostore: bool,
    mut store: Option<Bytes>,
) -> Reply {
    let key = argv[src_at].clone();
    let (db, now) = (ctx.db(), ctx.now);
    let exists = match ctx.engine.keyspace.read(db, &key, now) {
        Ok(None) => false,
        Ok(Some(r)) => {
            if r.entry.value.as_zset().is_none() {
                return err_wrongtype();
            }
            true
        }
        Err(e) => return err_store(&e),
    };
    let not_decoded = || Reply::error("ERR could not decode requested zset member");
    let mut center: Option<(f64, f64)> = None;
    let mut shape: Option<(Shape, f64)> = None;
    let base = match kind {
        Kind::Coords => {
            let c = match parse_lonlat(&argv[2], &argv[3]) {
                Ok(c) => c,
                Err(r) => return r,
            };
            center = Some(c);
            match parse_radius(&argv[4], &argv[5]) {
                Ok((r, u)) => shape = Some((Shape::Radius(r), u)),
                Err(r) => return r,
            }
            6
        }
        Kind::Member => {
            if exists {
                match member_position(ctx, &key, &argv[2]) {
                    Ok(Some(c)) => center = Some(c),
                    Ok(None) => return not_decoded(),
                    Err(r) => return r,
                }
                match parse_radius(&argv[3], &argv[4]) {
                    Ok((r, u)) => shape = Some((Shape::Radius(r), u)),
                    Err(r) => return r,
                }
            }
            5
        }
        Kind::Search => src_at + 1,
    };
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut storedist = false;
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let remaining = argv.len() - base;
    let mut i = 0;
    while i < remaining {
        let arg = &argv[base + i];
        let at = |k: usize| &argv[base + i + k];
        if eq_ci(arg, "withdist") {
            withdist = true;
        } else if eq_ci(arg, "withhash") {
            withhash = true;
        } else if eq_ci(arg, "withcoord") {
            withcoord = true;
        } else if eq_ci(arg, "any") {
            any = true;
        } else if eq_ci(arg, "asc") {
            sort = Sort::Asc;
        } else if eq_ci(arg, "desc") {
            sort = Sort::Desc;
        } else if eq_ci(arg, "count") && i + 1 < remaining {
            let Some(c) = parse_i64(at(1)) else {
                return err_not_integer();
            };
            if c <= 0 {
                return Reply::error("ERR COUNT must be > 0");
            }
            count = c;
            i += 1;
        } else if (eq_ci(arg, "store") || eq_ci(arg, "storedist"))
            && i + 1 < remaining
            && !nostore
            && kind != Kind::Search
        {
            store = Some(at(1).clone());
            storedist = eq_ci(arg, "storedist");
            i += 1;
        } else if eq_ci(arg, "storedist") && kind == Kind::Search && store.is_some() {
            storedist = true;
        } else if eq_ci(arg, "frommember") && i + 1 < remaining && kind == Kind::Search && !fromloc
        {
            if exists {
                match member_position(ctx, &key, at(1)) {
                    Ok(Some(c)) => center = Some(c),
                    Ok(None) => return not_decoded(),
                    Err(r) => return r,
                }
            }
            frommember = true;
            i += 1;
        } else if eq_ci(arg, "fromlonlat")
            && i + 2 < remaining
            && kind == Kind::Search
            && !frommember
        {
            match parse_lonlat(at(1), at(2)) {
                Ok(c) => center = Some(c),
                Err(r) => return r,
            }
            fromloc = true;
            i += 2;
        } else if eq_ci(arg, "byradius") && i + 2 < remaining && kind == Kind::Search && !bybox {
            match parse_radius(at(1), at(2)) {
                Ok((r, u)) => shape = Some((Shape::Radius(r), u)),
                Err(r) => return r,
            }
            byradius = true;
            i += 2;
        } else if eq_ci(arg, "bybox") && i + 3 < remaining && kind == Kind::Search && !byradius {
            match parse_box(at(1), at(2), at(3)) {
                Ok((w, h, u)) => shape = Some((Shape::Box(w, h), u)),
                Err(r) => return r,
            }
            bybox = true;
            i += 3;
        } else {
            return err_syntax();
        }
        i += 1;
    }
    let name = String::from_utf8_lossy(&argv[0]).into_owned();
    if store.is_some() && (withdist || withhash || withcoord) {
        let which = if kind == Kind::Search {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Reply::Error(
            format!("ERR {which} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
                .into(),
        );
    }
    if kind == Kind::Search && !(frommember || fromloc) {
        return Reply::Error(
            format!("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")
                .into(),
        );
    }
    if kind == Kind::Search && !(byradius || bybox) {
        return Reply::Error(
            format!("ERR exactly one of BYRADIUS and BYBOX can be specified for {name}").into(),
        );
    }
    if any && count == 0 {
        return Reply::error("ERR the ANY argument requires COUNT argument");
    }
    let event = if kind == Kind::Search {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    let (Some((lon, lat)), Some((shape, unit)), true) = (center, shape, exists) else {
        return match store {
            Some(dst) => store_result(ctx, &dst, Vec::new(), event),
            None => Reply::Array(Vec::new()),
        };
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let search = Search {
        lon,
        lat,
        shape,
        unit,
    };
    let limit = if any { count as usize } else { 0 };
    let mut points = match ctx.engine.keyspace.peek(db, &key, now) {
        Ok(Some(r)) => match r.entry.value.as_zset() {
            Some(z) => match points_within(z, r.store, &search, limit) {
                Ok(p) => p,
                Err(e) => return err_store(&e),
            },
            None => return err_wrongtype(),
        },
        Ok(None) => Vec::new(),
        Err(e) => return err_store(&e),
    };
    match sort {
        Sort::Asc => points.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Sort::Desc => points.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
        Sort::None => {}
    }
    if count > 0 {
        points.truncate(count as usize);
    }
    if let Some(dst) = store {
        let entries = points
            .into_iter()
            .map(|p| {
                let score = if storedist { p.dist / unit } else { p.score };
                (p.member, score)
            })
            .collect();
        return store_result(ctx, &dst, entries, event);
    }
    let options = usize::from(withdist) + usize::from(withhash) + usize::from(withcoord);
    let out = points
        .into_iter()
        .map(|p| {
            if options == 0 {
                return Reply::Bulk(p.member);
            }
            let mut item = Vec::with_capacity(options + 1);
            item.push(Reply::Bulk(p.member));
            if withdist {
                item.push(distance_reply(p.dist / unit));
            }
            if withhash {
                item.push(Reply::Integer(p.score as i64));
            }
            if withcoord {
                item.push(Reply::Array(vec![coord_reply(p.lon), coord_reply(p.lat)]));
            }
            Reply::Array(item)
        })
        .collect();
    Reply::Array(out)
}

/// The members within the search's shape, cell by cell in Redis's order, each cell read by
/// its score range; with `limit` (ANY), stops once that many are found.
fn points_within(
    z: &ZSet,
    store: &mut dyn crate::storage::Store,
    search: &Search,
    limit: usize,
) -> Result<Vec<Point>, StoreError> {
    let mut out = Vec::new();
    for (min, max) in search.cells() {
        if limit != 0 && out.len() >= limit {
            break;
        }
        let range = ZRange::scores(
            ScoreBound::inclusive(min as f64),
            ScoreBound {
                value: max as f64,
                exclusive: true,
            },
        );
        for (member, score) in z.range(store, &range, false, 0, None)? {
            let (lon, lat) = geohash::decode_score(score);
            if let Some(dist) = search.distance_if_within(lon, lat) {
                out.push(Point {
                    member,
                    score,
                    lon,
                    lat,
                    dist,
                });
                if limit != 0 && out.len() >= limit {
                    break;
                }
            }
        }
    }
    Ok(out)
}
