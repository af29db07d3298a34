//! LOLWUT [VERSION v] [...]: some computer art and the Redis version (Redis's `lolwut*.c`).
//! Version 5 draws Georg Nees's "Schotter" in Braille characters, version 6 a city skyline
//! in terminal colours; any other (Redis 7.0's own) only names the version. The art is
//! random, drawn with the C library's `rand()` as Redis draws it.

use std::f64::consts::PI;

use super::args::{Args, CmdResult};
use super::Ctx;
use crate::protocol::Reply;

/// A canvas of pixels, each a colour number.
struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i32, height: i32, color: u8) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![color; (width.max(0) as usize) * (height.max(0) as usize)],
        }
    }

    fn draw(&mut self, x: i32, y: i32, color: u8) {
        if x >= 0 && x < self.width && y >= 0 && y < self.height {
            self.pixels[(x + y * self.width) as usize] = color;
        }
    }

    fn get(&self, x: i32, y: i32) -> u8 {
        if x >= 0 && x < self.width && y >= 0 && y < self.height {
            self.pixels[(x + y * self.width) as usize]
        } else {
            0
        }
    }

    /// Bresenham's line.
    fn line(&mut self, mut x1: i32, mut y1: i32, x2: i32, y2: i32, color: u8) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let (sx, sy) = (if x1 < x2 { 1 } else { -1 }, if y1 < y2 { 1 } else { -1 });
        let mut err = dx - dy;
        loop {
            self.draw(x1, y1, color);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// A square of side `size` centred on (x, y), turned by `angle` radians.
    // Redis's own rounding of sqrt(2), so that the squares come out the same size.
    #[allow(clippy::approx_constant)]
    fn square(&mut self, x: i32, y: i32, size: f32, angle: f32, color: u8) {
        // The square inscribed in a circle of radius 1 has a side of sqrt(2).
        // As C computes it: the quotient stored to a float, then rounded; `k` summed in
        // double and stored to a float at each step.
        let size = f64::from((f64::from(size) / 1.4142135623) as f32).round() as f32;
        let mut k = (PI / 4.0 + f64::from(angle)) as f32;
        let (mut px, mut py) = ([0i32; 4], [0i32; 4]);
        for j in 0..4 {
            px[j] = (f64::from(k).sin() * f64::from(size) + f64::from(x)).round() as i32;
            py[j] = (f64::from(k).cos() * f64::from(size) + f64::from(y)).round() as i32;
            k = (f64::from(k) + PI / 2.0) as f32;
        }
        for j in 0..4 {
            self.line(px[j], py[j], px[(j + 1) % 4], py[(j + 1) % 4], color);
        }
    }
}

/// The C library's `rand()`, as Redis draws its art with; seeded once, as Redis seeds it
/// at startup (the time and the process id), so that each run draws its own.
fn rand() -> i32 {
    static SEEDED: std::sync::Once = std::sync::Once::new();
    SEEDED.call_once(|| {
        #[allow(clippy::disallowed_methods)] // a seed, not a command's time
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let seed = now.as_secs() as u32 ^ now.subsec_micros() ^ std::process::id();
        // SAFETY: srand has no preconditions.
        unsafe { libc::srand(seed) };
    });
    // SAFETY: rand has no preconditions (glibc's is thread-safe).
    unsafe { libc::rand() }
}

/// One drawing at a time: a big canvas takes hundreds of MB, and Redis, single-threaded,
/// never draws two at once either.
static DRAWING: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// `rand() / RAND_MAX` in C's float arithmetic.
fn rand_unit() -> f32 {
    rand() as f32 / libc::RAND_MAX as f32
}

/// Schotter: squares in rows, more and more turned and shifted the lower the row.
fn schotter(cols: i32, per_row: i32, per_col: i32) -> Canvas {
    let width = cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32 + (padding * 2) as f32) as i32;
    let mut canvas = Canvas::new(width, height, 0);
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut angle = 0.0;
            if y > 1 {
                let mut r1 = rand_unit() / per_col as f32 * y as f32;
                let mut r2 = rand_unit() / per_col as f32 * y as f32;
                let mut r3 = rand_unit() / per_col as f32 * y as f32;
                for r in [&mut r1, &mut r2, &mut r3] {
                    if rand() % 2 != 0 {
                        *r = -*r;
                    }
                }
                angle = r1;
                sx = (sx as f32 + r2 * side / 3.0) as i32;
                sy = (sy as f32 + r3 * side / 3.0) as i32;
            }
            canvas.square(sx, sy, side, angle, 1);
        }
    }
    canvas
}

/// Each 2x4 block of pixels as one Braille character.
fn braille(canvas: &Canvas) -> Vec<u8> {
    let mut text = Vec::new();
    for y in (0..canvas.height).step_by(4) {
        for x in (0..canvas.width).step_by(2) {
            let dots = [
                (0, 0),
                (0, 1),
                (0, 2),
                (1, 0),
                (1, 1),
                (1, 2),
                (0, 3),
                (1, 3),
            ];
            let mut byte = 0u32;
            for (bit, (dx, dy)) in dots.into_iter().enumerate() {
                if canvas.get(x + dx, y + dy) != 0 {
                    byte |= 1 << bit;
                }
            }
            let code = 0x2800 + byte;
            text.extend_from_slice(&[
                (0xE0 | (code >> 12)) as u8,
                (0x80 | ((code >> 6) & 0x3F)) as u8,
                (0x80 | (code & 0x3F)) as u8,
            ]);
        }
        if y != canvas.height - 1 {
            text.push(b'\n');
        }
    }
    text
}

/// One skyscraper standing on the bottom row; windows in the two greys if `windows`.
fn skyscraper(canvas: &mut Canvas, xoff: i32, width: i32, height: i32, windows: bool, color: u8) {
    let start = canvas.height - 1;
    let end = start - height + 1;
    for y in (end..=start).rev() {
        for x in xoff..xoff + width {
            // The roof is four pixels narrower.
            if y == end && (x <= xoff + 1 || x >= xoff + width - 2) {
                continue;
            }
            let mut c = color;
            if windows && x > xoff + 1 && x < xoff + width - 2 && y > end + 1 && y < start - 1 {
                let (relx, rely) = (x - (xoff + 1), y - (end + 1));
                // Windows two pixels wide and one tall (terminal cells are not square).
                if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                    loop {
                        c = (1 + rand() % 2) as u8;
                        if c != color {
                            break;
                        }
                    }
                    if relx % 2 != 0 {
                        c = canvas.get(x - 1, y);
                    }
                }
            }
            canvas.draw(x, y, c);
        }
    }
}

/// A skyline: two rows of grey towers behind, black ones with lit windows in front.
fn skyline(canvas: &mut Canvas) {
    let h = canvas.height;
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < canvas.width {
            offset += rand() % 8;
            let width = 10 + rand() % 9;
            let height = if color == 2 {
                h / 2 + (rand() % h) / 2
            } else {
                h / 2 + (rand() % h) / 3
            };
            skyscraper(canvas, offset, width, height, false, color);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    let mut offset = -10;
    while offset < canvas.width {
        offset += rand() % 8;
        let mut width = 5 + rand() % 14;
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = h / 3 + (rand() % h) / 2;
        skyscraper(canvas, offset, width, height, true, 0);
        offset += width + 5;
    }
}

/// Each pixel as a space in its colour (foreground and background set alike).
fn coloured(canvas: &Canvas) -> Vec<u8> {
    let mut text = Vec::new();
    for y in 0..canvas.height {
        for x in 0..canvas.width {
            let escape = match canvas.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            text.extend_from_slice(format!("\x1b[{escape} \x1b[0m").as_bytes());
        }
        if y != canvas.height - 1 {
            text.push(b'\n');
        }
    }
    text
}

/// LOLWUT [VERSION v] [art arguments ...]
pub fn lolwut(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut version = crate::REDIS_VERSION.to_string();
    let mut rest = args.from(1);
    if args.len() >= 3 && args.get(1).eq_ignore_ascii_case(b"VERSION") {
        // As Redis prints it: an unsigned int, then ".0.0".
        version = format!("{}.0.0", args.int(2)? as u32);
        rest = args.from(3);
    }
    let v = version.as_bytes();
    let _one = DRAWING.lock();
    let text = if (v[0] == b'5' && v[1] == b'.' && v.get(2) != Some(&b'9'))
        || (v[0] == b'4' && v[1] == b'.' && v.get(2) == Some(&b'9'))
    {
        let mut n = [66i64, 8, 12];
        for (i, arg) in rest.iter().take(3).enumerate() {
            n[i] = crate::protocol::parse_i64(arg).ok_or(super::args::NOT_INTEGER)?;
        }
        let cols = n[0].clamp(1, 1000) as i32;
        let (per_row, per_col) = (n[1].clamp(1, 200) as i32, n[2].clamp(1, 200) as i32);
        let mut text = braille(&schotter(cols, per_row, per_col));
        text.extend_from_slice(b"\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
        text
    } else if (v[0] == b'6' && v[1] == b'.' && v.get(2) != Some(&b'9'))
        || (v[0] == b'5' && v[1] == b'.' && v.get(2) == Some(&b'9'))
    {
        let mut n = [80i64, 20];
        for (i, arg) in rest.iter().take(2).enumerate() {
            n[i] = crate::protocol::parse_i64(arg).ok_or(super::args::NOT_INTEGER)?;
        }
        let (cols, rows) = (n[0].clamp(1, 1000) as i32, n[1].clamp(1, 1000) as i32);
        let mut canvas = Canvas::new(cols, rows, 3);
        skyline(&mut canvas);
        let mut text = coloured(&canvas);
        text.extend_from_slice(
            b"\nDedicated to the 8 bit game developers of past and present.\n\
              Original 8 bit image from Plaguemon by hikikomori. Redis ver. ",
        );
        text
    } else {
        b"Redis ver. ".to_vec()
    };
    let mut text = text;
    text.extend_from_slice(crate::REDIS_VERSION.as_bytes());
    text.push(b'\n');
    Ok(Reply::Verbatim("txt", text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_rows_of_schotter_are_not_random() {
        let text = String::from_utf8(braille(&schotter(10, 2, 2))).unwrap_or_default();
        assert_eq!(
            text,
            "⠀⡤⠤⠤⠤⡤⠤⠤⠤⡄\n⠀⡇⠀⠀⠀⡇⠀⠀⠀⡇\n⠀⡧⠤⠤⠤⡧⠤⠤⠤⡇\n⠀⡇⠀⠀⠀⡇⠀⠀⠀⡇\n⠀⠧⠤⠤⠤⠧⠤⠤⠤⠇\n"
        );
    }
}
