//! `scripts/bench images`: the time and peak memory of processing one 12-megapixel
//! JPEG photo (4000 × 3000, with EXIF, so the original is re-encoded too), which is
//! what ImageProcessFunction's memory size in template.yaml follows from.
//!
//! The photo is made here, deterministic: gradients under pseudo-random grain, which
//! compresses about as a real photo does. Peak memory is the process's VmHWM, reset
//! after the input is made (`/proc/self/clear_refs`), so it counts the processing only.

use std::time::Instant;

use image::{ExtendedColorType, ImageEncoder, RgbImage, codecs::jpeg::JpegEncoder};
use image_process::resize::{Kind, process};

fn photo() -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let pixels = RgbImage::from_fn(4000, 3000, |x, y| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let grain = (state % 24) as u32;
        image::Rgb([
            ((x * 255 / 4000 + grain) % 256) as u8,
            ((y * 255 / 3000 + grain) % 256) as u8,
            (((x + y) * 255 / 7000 + grain) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, 90);
    // An orientation tag only: enough for the original to be re-encoded.
    let exif = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x01\0\0\0\0\0\0\0".to_vec();
    encoder.set_exif_metadata(exif).expect("exif");
    encoder
        .write_image(&pixels, 4000, 3000, ExtendedColorType::Rgb8)
        .expect("encode");
    out
}

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let input = photo();
    let before = peak_kib();
    // Writing 5 resets VmHWM to the current RSS (Linux 4.0+).
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let baseline = peak_kib();
    let mut times = Vec::new();
    let mut made = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let processed = process(&input, Kind::Jpeg).expect("process");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        made = processed
            .formats
            .iter()
            .map(|f| f.encodings.len())
            .sum::<usize>()
            + usize::from(processed.stripped_original.is_some())
            // The share square.
            + 1;
    }
    times.sort_by(f64::total_cmp);
    let peak = peak_kib();
    println!(
        "input: 4000x3000 JPEG, {:.2} MB; {made} images written per run",
        input.len() as f64 / 1e6
    );
    println!(
        "time per image over {runs} runs: min {:.0} ms, median {:.0} ms, max {:.0} ms",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    if reset {
        println!(
            "peak RSS while processing: {:.0} MiB (input held: {:.0} MiB before)",
            peak as f64 / 1024.0,
            baseline as f64 / 1024.0
        );
    } else {
        println!(
            "peak RSS: {:.0} MiB (VmHWM could not be reset)",
            before.max(peak) as f64 / 1024.0
        );
    }
}
