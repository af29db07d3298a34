//! Geohash arithmetic as Redis's GEO commands use it (`geohash.c`, `geohash_helper.c`): a
//! point is a 52-bit interleaving of its latitude and longitude (26 bits each) over Redis's
//! Web-Mercator latitude limits, stored as a sorted-set score; an area search visits the
//! score ranges of the box around the centre and its eight neighbours.

use std::f64::consts::PI;

pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// Bits per coordinate of a stored point.
pub const STEP_MAX: u8 = 26;

const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

fn deg_rad(d: f64) -> f64 {
    d * (PI / 180.0)
}

fn rad_deg(r: f64) -> f64 {
    r / (PI / 180.0)
}

/// A geohash of `step` bits per coordinate (`bits` holds 2 * step bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hash {
    pub bits: u64,
    pub step: u8,
}

impl Hash {
    pub const ZERO: Hash = Hash { bits: 0, step: 0 };

    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash as a 52-bit score prefix (`geohashAlign52Bits`).
    pub fn align52(&self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }

    /// The scores `[min, max)` of the points inside this box.
    pub fn score_range(&self) -> (f64, f64) {
        let next = Hash {
            bits: self.bits + 1,
            step: self.step,
        };
        (self.align52() as f64, next.align52() as f64)
    }
}

/// Latitude and longitude bounds of a box.
#[derive(Debug, Clone, Copy, Default)]
pub struct Area {
    pub lon_min: f64,
    pub lon_max: f64,
    pub lat_min: f64,
    pub lat_max: f64,
}

fn interleave(x: u32, y: u32) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut v = u64::from(v);
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    }
    spread(x) | (spread(y) << 1)
}

/// The two halves of an interleaving: (even bits, odd bits).
fn deinterleave(v: u64) -> (u32, u32) {
    fn squash(mut v: u64) -> u32 {
        v &= 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF;
        v as u32
    }
    (squash(v), squash(v >> 1))
}

/// Encodes a point over the given ranges (`geohashEncode`); `None` outside Redis's limits.
pub fn encode_in(
    lon_range: (f64, f64),
    lat_range: (f64, f64),
    lon: f64,
    lat: f64,
    step: u8,
) -> Option<Hash> {
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.0 || lat > lat_range.1 || lon < lon_range.0 || lon > lon_range.1 {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.0) / (lat_range.1 - lat_range.0) * scale;
    let lon_offset = (lon - lon_range.0) / (lon_range.1 - lon_range.0) * scale;
    Some(Hash {
        bits: interleave(lat_offset as u32, lon_offset as u32),
        step,
    })
}

/// Encodes a point over Redis's ranges.
pub fn encode(lon: f64, lat: f64, step: u8) -> Option<Hash> {
    encode_in((LONG_MIN, LONG_MAX), (LAT_MIN, LAT_MAX), lon, lat, step)
}

/// The box a hash stands for (`geohashDecode`).
pub fn decode(h: Hash) -> Option<Area> {
    if h.is_zero() {
        return None;
    }
    let (ilat, ilon) = deinterleave(h.bits);
    let scale = (1u64 << h.step) as f64;
    let (lat_scale, lon_scale) = (LAT_MAX - LAT_MIN, LONG_MAX - LONG_MIN);
    Some(Area {
        lat_min: LAT_MIN + (f64::from(ilat) / scale) * lat_scale,
        lat_max: LAT_MIN + ((f64::from(ilat) + 1.0) / scale) * lat_scale,
        lon_min: LONG_MIN + (f64::from(ilon) / scale) * lon_scale,
        lon_max: LONG_MIN + ((f64::from(ilon) + 1.0) / scale) * lon_scale,
    })
}

/// The point a stored score stands for: the centre of its box, (longitude, latitude).
pub fn decode_score(score: f64) -> Option<(f64, f64)> {
    let a = decode(Hash {
        bits: score as u64,
        step: STEP_MAX,
    })?;
    let lon = ((a.lon_min + a.lon_max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat_min + a.lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    Some((lon, lat))
}

/// The 11-character standard geohash of a point (GEOHASH: re-encoded over -90..90).
pub fn standard_string(lon: f64, lat: f64) -> Option<String> {
    const ALPHABET: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let lat_offset = (lat + 90.0) / 180.0 * (1u64 << 26) as f64;
    let lon_offset = (lon + 180.0) / 360.0 * (1u64 << 26) as f64;
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    let bits = interleave(lat_offset as u32, lon_offset as u32);
    Some(
        (0..11)
            .map(|i| {
                let idx = if i == 10 {
                    0
                } else {
                    (bits >> (52 - (i + 1) * 5)) & 0x1f
                };
                ALPHABET[idx as usize] as char
            })
            .collect(),
    )
}

/// Moves a hash one box along the axis whose bits `own` selects (longitude: the odd bits,
/// latitude: the even ones), `d` = +1 or -1, leaving the other axis as it is.
fn move_axis(h: &mut Hash, d: i8, own: u64) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(h.step) * 2;
    let mut a = h.bits & own;
    let b = h.bits & !own;
    // The other axis's bits set within the hash's width: a carry passes over them.
    let zz = !own >> shift;
    if d > 0 {
        a = a.wrapping_add(zz + 1);
    } else {
        a |= zz;
        a = a.wrapping_sub(zz + 1);
    }
    a &= own >> shift;
    h.bits = a | b;
}

const ODD_BITS: u64 = 0xaaaa_aaaa_aaaa_aaaa;
const EVEN_BITS: u64 = 0x5555_5555_5555_5555;

fn moved(h: Hash, dx: i8, dy: i8) -> Hash {
    let mut n = h;
    move_axis(&mut n, dx, ODD_BITS);
    move_axis(&mut n, dy, EVEN_BITS);
    n
}

/// What an area search looks for.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// Within `radius` (in the unit's meters factor `conversion`).
    Circle { radius: f64 },
    /// Within a `width` x `height` box centred on the point.
    Box { width: f64, height: f64 },
}

/// An area search: its centre, shape and unit (meters per unit).
#[derive(Debug, Clone, Copy)]
pub struct Search {
    pub lon: f64,
    pub lat: f64,
    pub shape: Shape,
    pub conversion: f64,
}

impl Search {
    /// (min lon, min lat, max lon, max lat) of the shape (`geohashBoundingBox`).
    fn bounds(&self) -> (f64, f64, f64, f64) {
        let (height, width) = match self.shape {
            Shape::Circle { radius } => (radius, radius),
            Shape::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let (height, width) = (height * self.conversion, width * self.conversion);
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let lon_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat + lat_delta).cos());
        let lon_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat - lat_delta).cos());
        let south = self.lat < 0.0;
        let lon_delta = if south {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        (
            self.lon - lon_delta,
            self.lat - lat_delta,
            self.lon + lon_delta,
            self.lat + lat_delta,
        )
    }

    /// The boxes to scan, in Redis's order (centre, N, S, E, W, NE, NW, SE, SW), those that
    /// cannot hold a match zeroed (`geohashCalculateAreasByShapeWGS84`).
    pub fn boxes(&self) -> [Hash; 9] {
        let (min_lon, min_lat, max_lon, max_lat) = self.bounds();
        let radius = match self.shape {
            Shape::Circle { radius } => radius,
            Shape::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.conversion;
        let mut steps = estimate_steps(radius, self.lat);
        let around = |steps: u8| {
            let h = encode(self.lon, self.lat, steps).unwrap_or(Hash {
                bits: 0,
                step: steps,
            });
            [
                h,
                moved(h, 0, 1),
                moved(h, 0, -1),
                moved(h, 1, 0),
                moved(h, -1, 0),
                moved(h, 1, 1),
                moved(h, -1, 1),
                moved(h, 1, -1),
                moved(h, -1, -1),
            ]
        };
        let mut n = around(steps);
        let area = |h: Hash| decode(h).unwrap_or_default();
        let decrease = area(n[1]).lat_max < max_lat
            || area(n[2]).lat_min > min_lat
            || area(n[3]).lon_max < max_lon
            || area(n[4]).lon_min > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            n = around(steps);
        }
        if steps >= 2 {
            let a = area(n[0]);
            if a.lat_min < min_lat {
                for i in [2, 8, 7] {
                    n[i] = Hash::ZERO;
                }
            }
            if a.lat_max > max_lat {
                for i in [1, 5, 6] {
                    n[i] = Hash::ZERO;
                }
            }
            if a.lon_min < min_lon {
                for i in [4, 8, 6] {
                    n[i] = Hash::ZERO;
                }
            }
            if a.lon_max > max_lon {
                for i in [3, 7, 5] {
                    n[i] = Hash::ZERO;
                }
            }
        }
        n
    }

    /// The distance of a point from the centre, if it is inside the shape.
    pub fn distance_if_inside(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.shape {
            Shape::Circle { radius } => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= radius * self.conversion).then_some(d)
            }
            Shape::Box { width, height } => {
                let (w, h) = (width * self.conversion, height * self.conversion);
                if lat_distance(lat, self.lat) > h / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > w / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }
}

/// The precision of boxes big enough for a search of this radius (`geohashEstimateStepsByRadius`).
fn estimate_steps(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
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

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in meters (`geohashGetDistance`).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lon1r, lon2r) = (deg_rad(lon1), deg_rad(lon2));
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (12345, 67890),
        ] {
            assert_eq!(deinterleave(interleave(x, y)), (x, y));
        }
    }

    #[test]
    fn known_points() {
        // Palermo, as in Redis's documentation: score 3479099956230698.
        let h = encode(13.361389, 38.115556, STEP_MAX).unwrap();
        assert_eq!(h.align52(), 3479099956230698);
        let (lon, lat) = decode_score(3479099956230698.0).unwrap();
        assert!((lon - 13.361389).abs() < 1e-5 && (lat - 38.115556).abs() < 1e-5);
        assert_eq!(standard_string(lon, lat).unwrap(), "sqc8b49rny0");
        let catania = decode_score(encode(15.087269, 37.502669, 26).unwrap().align52() as f64);
        let (lon2, lat2) = catania.unwrap();
        assert_eq!(
            format!("{:.4}", distance(lon, lat, lon2, lat2)),
            "166274.1516"
        );
    }
}
