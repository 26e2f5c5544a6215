//! Redis's geohash arithmetic (geohash.c, geohash_helper.c), pure: the 52-bit interleaved
//! scores GEOADD stores, their decoding, the neighbour cells a search reads, and the
//! haversine distance with Redis's earth radius. Every step follows Redis's own order of
//! floating-point operations, so scores, coordinates and distances agree to the bit.

/// The finest step: 26 bits of longitude and 26 of latitude.
pub const STEP_MAX: u8 = 26;
/// Longitude limits.
pub const LONG_MIN: f64 = -180.0;
/// Longitude limits.
pub const LONG_MAX: f64 = 180.0;
/// Latitude limits (EPSG:900913 / Web Mercator).
pub const LAT_MIN: f64 = -85.05112878;
/// Latitude limits.
pub const LAT_MAX: f64 = 85.05112878;
/// Redis's earth radius in metres.
pub const EARTH_RADIUS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

/// A cell: its interleaved bits and step (bits per coordinate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bits {
    /// Interleaved bits: latitude in the even positions, longitude in the odd ones.
    pub bits: u64,
    /// Bits per coordinate.
    pub step: u8,
}

impl Bits {
    const ZERO: Bits = Bits { bits: 0, step: 0 };

    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A coordinate range.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
}

/// The area a cell covers.
#[derive(Clone, Copy, Debug)]
pub struct Area {
    /// Longitudes.
    pub longitude: Range,
    /// Latitudes.
    pub latitude: Range,
}

const WGS84_LONG: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const WGS84_LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

fn squash(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// `x` in the even bits, `y` in the odd ones.
fn interleave(x: u32, y: u32) -> u64 {
    spread(x) | (spread(y) << 1)
}

/// Encodes a point in the given ranges (geohashEncode); `None` outside them.
pub fn encode(long_range: Range, lat_range: Range, lon: f64, lat: f64, step: u8) -> Option<Bits> {
    if step > 32 || step == 0 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < long_range.min || lon > long_range.max {
        return None;
    }
    let mut lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (lon - long_range.min) / (long_range.max - long_range.min);
    lat_offset *= (1u64 << step) as f64;
    long_offset *= (1u64 << step) as f64;
    Some(Bits {
        bits: interleave(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// Encodes a point with GEOADD's ranges (longitude ±180, latitude ±85.05112878).
pub fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<Bits> {
    encode(WGS84_LONG, WGS84_LAT, lon, lat, step)
}

/// The cell's bits moved to the top of 52 (the sorted-set score).
pub fn align52(hash: Bits) -> u64 {
    hash.bits << (52 - u32::from(hash.step) * 2)
}

/// The score GEOADD stores for a point, `None` outside the valid range.
pub fn score_of(lon: f64, lat: f64) -> Option<f64> {
    encode_wgs84(lon, lat, STEP_MAX).map(|h| align52(h) as f64)
}

/// The area a cell covers in the given ranges (geohashDecode).
pub fn decode(long_range: Range, lat_range: Range, hash: Bits) -> Area {
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = squash(hash.bits);
    let ilono = squash(hash.bits >> 1);
    let cells = (1u64 << hash.step) as f64;
    Area {
        latitude: Range {
            min: lat_range.min + (f64::from(ilato) * 1.0 / cells) * lat_scale,
            max: lat_range.min + ((f64::from(ilato) + 1.0) * 1.0 / cells) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (f64::from(ilono) * 1.0 / cells) * long_scale,
            max: long_range.min + ((f64::from(ilono) + 1.0) * 1.0 / cells) * long_scale,
        },
    }
}

/// The centre of an area, clamped to the valid range.
fn area_center(area: &Area) -> (f64, f64) {
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// C's `(uint64_t)score` as x86-64 compilers emit it (Redis's decodeGeohash casts so): a
/// truncating signed conversion below 2^63 (a negative score wraps around), above it the
/// same on `score - 2^63` with the top bit flipped; out of range (or NaN) the conversion
/// gives `0x8000000000000000` before the flip. Members ZADD put at odd scores then decode
/// where redis-server decodes them.
fn c_double_to_u64(v: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let cvtt = |x: f64| -> i64 {
        if x.is_nan() || !(-TWO_63..TWO_63).contains(&x) {
            i64::MIN
        } else {
            x as i64
        }
    };
    if v < TWO_63 {
        cvtt(v) as u64
    } else {
        (cvtt(v - TWO_63) as u64) ^ (1 << 63)
    }
}

/// The longitude and latitude of a stored score (decodeGeohash).
pub fn decode_score(score: f64) -> (f64, f64) {
    let hash = Bits {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    area_center(&decode(WGS84_LONG, WGS84_LAT, hash))
}

/// GEOHASH's 11-character standard geohash of a stored score: decoded, then re-encoded
/// with latitudes ±90, the eleventh character always `0` as in Redis.
pub fn standard_geohash(score: f64) -> Option<[u8; 11]> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score);
    let hash = encode(
        Range {
            min: -180.0,
            max: 180.0,
        },
        Range {
            min: -90.0,
            max: 90.0,
        },
        lon,
        lat,
        26,
    )?;
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        let idx = (hash.bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    Some(out)
}

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// Distance in metres along a meridian.
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in metres (geohashGetDistance).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS * a.sqrt().asin()
}

/// What a search covers, in metres.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// BYRADIUS.
    Radius(f64),
    /// BYBOX width height.
    Box(f64, f64),
}

/// A search: its centre, its shape in the request's unit and that unit in metres.
#[derive(Clone, Copy, Debug)]
pub struct Search {
    /// Centre longitude.
    pub lon: f64,
    /// Centre latitude.
    pub lat: f64,
    /// The shape, in `unit`s.
    pub shape: Shape,
    /// Metres per unit.
    pub unit: f64,
}

impl Search {
    /// The distance to a point in metres if it lies within the shape.
    pub fn distance_if_within(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.shape {
            Shape::Radius(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= r * self.unit).then_some(d)
            }
            Shape::Box(w, h) => {
                let (width, height) = (w * self.unit, h * self.unit);
                if lat_distance(lat, self.lat) > height / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > width / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }

    /// The bounding box: min lon, min lat, max lon, max lat (geohashBoundingBox).
    fn bounds(&self) -> [f64; 4] {
        let (height, width) = match self.shape {
            Shape::Radius(r) => (self.unit * r, self.unit * r),
            Shape::Box(w, h) => (self.unit * (h / 2.0), self.unit * (w / 2.0)),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS);
        let top = rad_deg(width / EARTH_RADIUS / deg_rad(self.lat + lat_delta).cos());
        let bottom = rad_deg(width / EARTH_RADIUS / deg_rad(self.lat - lat_delta).cos());
        let south = self.lat < 0.0;
        [
            if south {
                self.lon - bottom
            } else {
                self.lon - top
            },
            self.lat - lat_delta,
            if south {
                self.lon + bottom
            } else {
                self.lon + top
            },
            self.lat + lat_delta,
        ]
    }

    /// The score ranges `[min, max)` of the cells to read, in Redis's order (the centre,
    /// then N S E W NE NW SE SW), cells found useless already left out, and a cell equal to
    /// the one read before it skipped, as membersOfAllNeighbors does.
    pub fn cells(&self) -> Vec<(u64, u64)> {
        let b = self.bounds();
        let (min_lon, min_lat, max_lon, max_lat) = (b[0], b[1], b[2], b[3]);
        let radius = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        } * self.unit;
        let mut steps = estimate_steps(radius, self.lat);
        let mut hash = encode(WGS84_LONG, WGS84_LAT, self.lon, self.lat, steps).unwrap_or(Bits {
            bits: 0,
            step: steps,
        });
        let mut n = neighbours(hash);
        let mut area = decode(WGS84_LONG, WGS84_LAT, hash);
        let north = decode(WGS84_LONG, WGS84_LAT, n[0]);
        let south = decode(WGS84_LONG, WGS84_LAT, n[1]);
        let east = decode(WGS84_LONG, WGS84_LAT, n[2]);
        let west = decode(WGS84_LONG, WGS84_LAT, n[3]);
        let decrease = north.latitude.max < max_lat
            || south.latitude.min > min_lat
            || east.longitude.max < max_lon
            || west.longitude.min > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            hash = encode(WGS84_LONG, WGS84_LAT, self.lon, self.lat, steps).unwrap_or(Bits {
                bits: 0,
                step: steps,
            });
            n = neighbours(hash);
            area = decode(WGS84_LONG, WGS84_LAT, hash);
        }
        // n: north, south, east, west, north-east, north-west, south-east, south-west.
        if steps >= 2 {
            if area.latitude.min < min_lat {
                for i in [1, 7, 6] {
                    n[i] = Bits::ZERO;
                }
            }
            if area.latitude.max > max_lat {
                for i in [0, 4, 5] {
                    n[i] = Bits::ZERO;
                }
            }
            if area.longitude.min < min_lon {
                for i in [3, 7, 5] {
                    n[i] = Bits::ZERO;
                }
            }
            if area.longitude.max > max_lon {
                for i in [2, 6, 4] {
                    n[i] = Bits::ZERO;
                }
            }
        }
        let all = [hash, n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]];
        let mut out = Vec::with_capacity(9);
        let mut last = 0;
        for (i, cell) in all.iter().enumerate() {
            if cell.is_zero() {
                continue;
            }
            if last != 0 && *cell == all[last] {
                continue;
            }
            let min = align52(*cell);
            let max = align52(Bits {
                bits: cell.bits + 1,
                step: cell.step,
            });
            out.push((min, max));
            last = i;
        }
        out
    }
}

/// geohashEstimateStepsByRadius.
fn estimate_steps(mut range: f64, lat: f64) -> u8 {
    if range == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn move_x(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> (64 - u32::from(hash.step) * 2);
    if d > 0 {
        x = x.wrapping_add(zz.wrapping_add(1));
    } else {
        x |= zz;
        x = x.wrapping_sub(zz.wrapping_add(1));
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - u32::from(hash.step) * 2);
    hash.bits = x | y;
}

fn move_y(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - u32::from(hash.step) * 2);
    if d > 0 {
        y = y.wrapping_add(zz.wrapping_add(1));
    } else {
        y |= zz;
        y = y.wrapping_sub(zz.wrapping_add(1));
    }
    y &= 0x5555_5555_5555_5555u64 >> (64 - u32::from(hash.step) * 2);
    hash.bits = x | y;
}

/// The eight neighbours: N S E W NE NW SE SW.
fn neighbours(hash: Bits) -> [Bits; 8] {
    let moves: [(i8, i8); 8] = [
        (0, 1),
        (0, -1),
        (1, 0),
        (-1, 0),
        (1, 1),
        (-1, 1),
        (1, -1),
        (-1, -1),
    ];
    moves.map(|(dx, dy)| {
        let mut h = hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Scores, geohashes and distances from redis-server 7.0.15.
    #[test]
    fn palermo_and_catania_as_redis() {
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698.0));
        assert_eq!(score_of(15.087269, 37.502669), Some(3479447370796909.0));
        assert_eq!(
            &standard_geohash(3479099956230698.0).unwrap(),
            b"sqc8b49rny0"
        );
        assert_eq!(
            &standard_geohash(3479447370796909.0).unwrap(),
            b"sqdtr74hyu0"
        );
        let (a, b) = (
            decode_score(3479099956230698.0),
            decode_score(3479447370796909.0),
        );
        assert_eq!(
            format!("{:.4}", distance(a.0, a.1, b.0, b.1)),
            "166274.1516"
        );
        assert_eq!(format!("{:.17}", a.0), "13.36138933897018433");
    }

    #[test]
    fn odd_scores_convert_as_c_does_on_x86_64() {
        assert_eq!(c_double_to_u64(-5.0), (-5i64) as u64);
        assert_eq!(c_double_to_u64(1e20), 0);
        assert_eq!(c_double_to_u64(f64::INFINITY), 0);
        assert_eq!(c_double_to_u64(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(c_double_to_u64(1.5), 1);
    }

    #[test]
    fn out_of_range_is_refused() {
        assert_eq!(score_of(181.0, 0.0), None);
        assert_eq!(score_of(0.0, 85.06), None);
    }

    #[test]
    fn interleave_round_trips() {
        let v = interleave(0x3ff_ffff, 0x155_5555);
        assert_eq!(squash(v), 0x3ff_ffff);
        assert_eq!(squash(v >> 1), 0x155_5555);
    }

    #[test]
    fn a_small_radius_reads_few_cells() {
        let s = Search {
            lon: 15.0,
            lat: 37.0,
            shape: Shape::Radius(200.0),
            unit: 1000.0,
        };
        let cells = s.cells();
        assert!(!cells.is_empty() && cells.len() <= 9);
        let p = score_of(15.087269, 37.502669).unwrap() as u64;
        assert!(cells.iter().any(|&(lo, hi)| lo <= p && p < hi));
    }
}
