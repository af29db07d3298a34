//! GEO commands (Redis's `geo.c`): points kept in a sorted set, each scored by its 52-bit
//! geohash (`crate::geohash`), so GEOADD is a ZADD and an area search is a few score ranges.

use super::args::{err, parse_f64, Args, CmdError, CmdResult, NOT_FLOAT, SYNTAX};
use super::Ctx;
use crate::geohash::{self, Search, Shape};
use crate::protocol::Reply;
use crate::store::{DbMut, DbRef, ZSet};

/// A coordinate as Redis's `addReplyHumanLongDouble` prints it: 17 decimals of the exact
/// value, trailing zeros dropped; a bulk string in RESP2, a double in RESP3.
fn coord(v: f64, resp: u8) -> Reply {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    if resp >= 3 {
        Reply::Raw(format!(",{s}\r\n").into_bytes().into())
    } else {
        Reply::Bulk(s.into_bytes())
    }
}

/// A distance as Redis prints it (`fixedpoint_d2string`, 4 decimals of the value rounded
/// half to even at that precision).
fn distance_reply(d: f64) -> Reply {
    if d == 0.0 {
        return Reply::bulk("0.0000");
    }
    let v = (d * 10_000.0).round_ties_even() as i64;
    let (sign, v) = if v < 0 {
        ("-", v.unsigned_abs())
    } else {
        ("", v as u64)
    };
    Reply::Bulk(format!("{sign}{}.{:04}", v / 10_000, v % 10_000).into_bytes())
}

/// A longitude, latitude pair (`extractLongLatOrReply`).
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let lon = parse_f64(lon).ok_or(NOT_FLOAT)?;
    let lat = parse_f64(lat).ok_or(NOT_FLOAT)?;
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(CmdError::msg(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// Meters per unit (`extractUnitOrReply`).
fn unit(u: &[u8]) -> Result<f64, CmdError> {
    Ok(match u.to_ascii_lowercase().as_slice() {
        b"m" => 1.0,
        b"km" => 1000.0,
        b"ft" => 0.3048,
        b"mi" => 1609.34,
        _ => {
            return Err(err(
                "ERR unsupported unit provided. please use M, KM, FT, MI",
            ))
        }
    })
}

/// A radius and its unit (`extractDistanceOrReply`).
fn radius(r: &[u8], u: &[u8]) -> Result<(f64, f64), CmdError> {
    let r = parse_f64(r).ok_or(err("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err(err("ERR radius cannot be negative"));
    }
    Ok((r, unit(u)?))
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: a ZADD of geohash scores.
pub fn geoadd(db: &mut DbMut, args: &Args) -> CmdResult {
    let mut at = 2;
    let (mut nx, mut xx) = (false, false);
    while at < args.len() {
        if args.is(at, "nx") {
            nx = true;
        } else if args.is(at, "xx") {
            xx = true;
        } else if !args.is(at, "ch") {
            break;
        }
        at += 1;
    }
    if !(args.len() - at).is_multiple_of(3) || (nx && xx) {
        return Err(SYNTAX);
    }
    let mut zadd: Vec<Vec<u8>> = vec![b"zadd".to_vec()];
    zadd.extend(args.from(1)[..at - 1].iter().cloned());
    for p in args.from(at).chunks(3) {
        let (lon, lat) = lon_lat(&p[0], &p[1])?;
        let bits = geohash::encode(lon, lat, geohash::STEP_MAX).map_or(0, |h| h.align52());
        zadd.push(bits.to_string().into_bytes());
        zadd.push(p[2].clone());
    }
    super::zsets::zadd(db, &Args::new(&zadd))
}

/// GEOHASH key [member ...]
pub fn geohash_(db: &DbRef, args: &Args) -> CmdResult {
    let z = db.get_zset(args.get(1))?;
    Ok(Reply::Array(
        args.from(2)
            .iter()
            .map(|m| {
                z.and_then(|z| z.score(m))
                    .and_then(geohash::decode_score)
                    .and_then(|(lon, lat)| geohash::standard_string(lon, lat))
                    .map_or(Reply::Nil, Reply::bulk)
            })
            .collect(),
    ))
}

/// GEOPOS key [member ...]
pub fn geopos(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let resp = ctx.client.resp;
    ctx.read_db(ctx.client.db, |db| {
        let z = db.get_zset(args.get(1))?;
        Ok(Reply::Array(
            args.from(2)
                .iter()
                .map(
                    |m| match z.and_then(|z| z.score(m)).and_then(geohash::decode_score) {
                        Some((lon, lat)) => Reply::Array(vec![coord(lon, resp), coord(lat, resp)]),
                        None => Reply::NilArray,
                    },
                )
                .collect(),
        ))
    })
}

/// GEODIST key member1 member2 [M|KM|FT|MI]
pub fn geodist(db: &DbRef, args: &Args) -> CmdResult {
    let to_meter = match args.len() {
        5 => unit(args.get(4))?,
        n if n > 5 => return Err(SYNTAX),
        _ => 1.0,
    };
    let Some(z) = db.get_zset(args.get(1))? else {
        return Ok(Reply::Nil);
    };
    let point = |m: &[u8]| z.score(m).and_then(geohash::decode_score);
    Ok(match (point(args.get(2)), point(args.get(3))) {
        (Some((lon1, lat1)), Some((lon2, lat2))) => {
            distance_reply(geohash::distance(lon1, lat1, lon2, lat2) / to_meter)
        }
        _ => Reply::Nil,
    })
}

/// Which command of the search family.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Radius,
    RadiusByMember,
    Search,
    SearchStore,
}

/// A match: member, distance (meters), score, coordinates.
struct Point {
    member: Vec<u8>,
    dist: f64,
    score: f64,
    lon: f64,
    lat: f64,
}

/// The members of `z` inside `search`, box by box in Redis's order, stopping at `limit`
/// (ANY) once reached (`membersOfAllNeighbors`).
fn members_in(z: &ZSet, search: &Search, limit: usize) -> Vec<Point> {
    let boxes = search.boxes();
    let mut out: Vec<Point> = Vec::new();
    let mut last: Option<usize> = None;
    for (i, b) in boxes.iter().enumerate() {
        if b.is_zero() {
            continue;
        }
        // Huge radii make neighbours repeat: skip a box equal to the last one scanned.
        if last.is_some_and(|l| boxes[l] == *b) {
            continue;
        }
        if limit > 0 && out.len() >= limit {
            break;
        }
        let (min, max) = b.score_range();
        let start = z.count_while(|s, _| s < min);
        for (m, score) in z.range(start, false) {
            if score >= max {
                break;
            }
            if let Some((lon, lat)) = geohash::decode_score(score) {
                if let Some(dist) = search.distance_if_inside(lon, lat) {
                    out.push(Point {
                        member: m.to_vec(),
                        dist,
                        score,
                        lon,
                        lat,
                    });
                }
            }
            if limit > 0 && out.len() >= limit {
                break;
            }
        }
        last = Some(i);
    }
    out
}

/// What a search found, and how to answer.
struct Found {
    /// `None`: no source key.
    points: Option<Vec<Point>>,
    /// STORE / STOREDIST (`true`) destination.
    store: Option<(Vec<u8>, bool)>,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
}

/// Parses the arguments and runs the search on `db` (Redis's `georadiusGeneric`, its checks
/// in its order).
fn search<K: std::ops::Deref<Target = crate::store::Keyspace>>(
    db: &crate::store::Db<'_, K>,
    args: &Args,
    kind: Kind,
    no_store: bool,
) -> Result<Found, CmdError> {
    let src = if kind == Kind::SearchStore { 2 } else { 1 };
    let name = String::from_utf8_lossy(args.get(0)).into_owned();
    let z = db.get_zset(args.get(src))?;
    let mut center: Option<(f64, f64)> = None;
    let mut shape: Option<(Shape, f64)> = None;
    let base = match kind {
        Kind::Radius => {
            center = Some(lon_lat(args.get(2), args.get(3))?);
            let (r, conv) = radius(args.get(4), args.get(5))?;
            shape = Some((Shape::Circle { radius: r }, conv));
            6
        }
        Kind::RadiusByMember => {
            if let Some(z) = z {
                center = Some(
                    z.score(args.get(2))
                        .and_then(geohash::decode_score)
                        .ok_or(err("ERR could not decode requested zset member"))?,
                );
                let (r, conv) = radius(args.get(3), args.get(4))?;
                shape = Some((Shape::Circle { radius: r }, conv));
            }
            5
        }
        Kind::Search => 2,
        Kind::SearchStore => 3,
    };
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort: Option<bool> = None; // Some(true): ascending
    let mut count: i64 = 0;
    let mut store: Option<(Vec<u8>, bool)> =
        (kind == Kind::SearchStore).then(|| (args.get(1).to_vec(), false));
    let geosearch = matches!(kind, Kind::Search | Kind::SearchStore);
    let rest = args.len().saturating_sub(base);
    let mut i = 0;
    while i < rest {
        let at = base + i;
        let a = |w: &str| args.is(at, w);
        if a("withdist") {
            withdist = true;
        } else if a("withhash") {
            withhash = true;
        } else if a("withcoord") {
            withcoord = true;
        } else if a("any") {
            any = true;
        } else if a("asc") {
            sort = Some(true);
        } else if a("desc") {
            sort = Some(false);
        } else if a("count") && i + 1 < rest {
            count = args.int(at + 1)?;
            if count <= 0 {
                return Err(err("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (a("store") || a("storedist")) && i + 1 < rest && !no_store && !geosearch {
            store = Some((args.get(at + 1).to_vec(), a("storedist")));
            i += 1;
        } else if a("storedist") && kind == Kind::SearchStore {
            if let Some(s) = store.as_mut() {
                s.1 = true;
            }
        } else if a("frommember") && i + 1 < rest && geosearch && !fromloc {
            if let Some(z) = z {
                center = Some(
                    z.score(args.get(at + 1))
                        .and_then(geohash::decode_score)
                        .ok_or(err("ERR could not decode requested zset member"))?,
                );
            }
            frommember = true;
            i += 1;
        } else if a("fromlonlat") && i + 2 < rest && geosearch && !frommember {
            center = Some(lon_lat(args.get(at + 1), args.get(at + 2))?);
            fromloc = true;
            i += 2;
        } else if a("byradius") && i + 2 < rest && geosearch && !bybox {
            let (r, conv) = radius(args.get(at + 1), args.get(at + 2))?;
            shape = Some((Shape::Circle { radius: r }, conv));
            byradius = true;
            i += 2;
        } else if a("bybox") && i + 3 < rest && geosearch && !byradius {
            const W: CmdError = err("ERR need numeric width");
            const H: CmdError = err("ERR need numeric height");
            let w = parse_f64(args.get(at + 1)).ok_or(W)?;
            let h = parse_f64(args.get(at + 2)).ok_or(H)?;
            if w < 0.0 || h < 0.0 {
                return Err(err("ERR height or width cannot be negative"));
            }
            let conv = unit(args.get(at + 3))?;
            shape = Some((
                Shape::Box {
                    width: w,
                    height: h,
                },
                conv,
            ));
            bybox = true;
            i += 3;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    if store.is_some() && (withdist || withhash || withcoord) {
        return Err(CmdError::msg(format!(
            "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if kind == Kind::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    if geosearch && !(frommember || fromloc) {
        return Err(CmdError::msg(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if geosearch && !(byradius || bybox) {
        return Err(CmdError::msg(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(err("ERR the ANY argument requires COUNT argument"));
    }
    let Some(z) = z else {
        return Ok(Found {
            points: None,
            store,
            withdist,
            withhash,
            withcoord,
        });
    };
    if count != 0 && sort.is_none() && !any {
        sort = Some(true);
    }
    let (Some((lon, lat)), Some((shape, conversion))) = (center, shape) else {
        return Err(err("ERR could not decode requested zset member"));
    };
    let search = Search {
        lon,
        lat,
        shape,
        conversion,
    };
    let limit = if any { count as usize } else { 0 };
    let mut points = members_in(z, &search, limit);
    if let Some(asc) = sort {
        points.sort_by(|a, b| {
            let o = a
                .dist
                .partial_cmp(&b.dist)
                .unwrap_or(std::cmp::Ordering::Equal);
            if asc {
                o
            } else {
                o.reverse()
            }
        });
    }
    if count > 0 && (count as usize) < points.len() {
        points.truncate(count as usize);
    }
    for p in &mut points {
        p.dist /= conversion;
    }
    Ok(Found {
        points: Some(points),
        store,
        withdist,
        withhash,
        withcoord,
    })
}

/// GEORADIUS, GEORADIUSBYMEMBER (and their _RO forms), GEOSEARCH, GEOSEARCHSTORE. The
/// commands that may store run under the database's write lock from search to store.
fn search_generic(ctx: &mut Ctx, args: &Args, kind: Kind, no_store: bool) -> CmdResult {
    let resp = ctx.client.resp;
    let db_index = ctx.client.db;
    let may_store = !no_store && kind != Kind::Search;
    let found = if may_store {
        let stored = ctx.write_db(db_index, |db| -> Result<Result<Reply, Found>, CmdError> {
            let found = search(&*db, args, kind, no_store)?;
            let Some((dst, storedist)) = found.store.clone() else {
                return Ok(Err(found));
            };
            let items: Vec<(Vec<u8>, f64)> = found
                .points
                .unwrap_or_default()
                .into_iter()
                .map(|p| (p.member, if storedist { p.dist } else { p.score }))
                .collect();
            let event = if kind == Kind::SearchStore {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            Ok(Ok(super::zsets::store(db, &dst, items, event)))
        })?;
        match stored {
            Ok(reply) => return Ok(reply),
            Err(found) => found,
        }
    } else {
        ctx.read_db(db_index, |db| search(db, args, kind, no_store))?
    };
    let Found {
        points,
        withdist,
        withhash,
        withcoord,
        ..
    } = found;
    let Some(points) = points else {
        return Ok(Reply::Array(vec![]));
    };
    let options = usize::from(withdist) + usize::from(withhash) + usize::from(withcoord);
    Ok(Reply::Array(
        points
            .into_iter()
            .map(|p| {
                if options == 0 {
                    return Reply::Bulk(p.member);
                }
                let mut item = vec![Reply::Bulk(p.member)];
                if withdist {
                    item.push(distance_reply(p.dist));
                }
                if withhash {
                    item.push(Reply::Int(p.score as i64));
                }
                if withcoord {
                    item.push(Reply::Array(vec![coord(p.lon, resp), coord(p.lat, resp)]));
                }
                Reply::Array(item)
            })
            .collect(),
    ))
}

/// GEORADIUS key longitude latitude radius unit [...] [STORE key] [STOREDIST key]
pub fn georadius(ctx: &mut Ctx, args: &Args) -> CmdResult {
    search_generic(ctx, args, Kind::Radius, false)
}

/// GEORADIUS_RO: no STORE.
pub fn georadius_ro(ctx: &mut Ctx, args: &Args) -> CmdResult {
    search_generic(ctx, args, Kind::Radius, true)
}

/// GEORADIUSBYMEMBER key member radius unit [...]
pub fn georadiusbymember(ctx: &mut Ctx, args: &Args) -> CmdResult {
    search_generic(ctx, args, Kind::RadiusByMember, false)
}

/// GEORADIUSBYMEMBER_RO: no STORE.
pub fn georadiusbymember_ro(ctx: &mut Ctx, args: &Args) -> CmdResult {
    search_generic(ctx, args, Kind::RadiusByMember, true)
}

/// GEOSEARCH key FROMMEMBER m|FROMLONLAT lon lat BYRADIUS r unit|BYBOX w h unit [...]
pub fn geosearch(ctx: &mut Ctx, args: &Args) -> CmdResult {
    search_generic(ctx, args, Kind::Search, false)
}

/// GEOSEARCHSTORE destination source ... [STOREDIST]
pub fn geosearchstore(ctx: &mut Ctx, args: &Args) -> CmdResult {
    search_generic(ctx, args, Kind::SearchStore, false)
}
