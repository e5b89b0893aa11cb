//! Strapi's responsive formats of one image, as plain bytes in and out: no S3, no
//! database, so the tests and the bench call it directly.
//!
//! Decoding is bounded before any pixel is read: the header's dimensions must fit
//! [`PIXEL_BUDGET`], and `image`'s allocation limit stays in force, so a small file
//! that claims to be 60,000 × 60,000 pixels is refused instead of taking the memory.
//! The image is turned upright by its EXIF orientation first. Every format is encoded
//! afresh, so none carries the original's metadata; an original that carries EXIF
//! (where cameras and phones put GPS positions) is re-encoded too, upright, and
//! replaces the upload. A GIF's formats are its first frame; the GIF itself is kept.

use std::io::Cursor;

use image::{
    DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits,
    codecs::{
        gif::GifEncoder,
        jpeg::JpegEncoder,
        png::{CompressionType, FilterType as PngFilter, PngEncoder},
    },
    imageops::FilterType,
};

/// The most pixels an image may have: 40 megapixels, above any phone's photos (a
/// 48 MP sensor writes 12 MP files by default) and about 160 MB as RGBA.
pub const PIXEL_BUDGET: u64 = 40_000_000;
/// Quality of the lossy formats, Strapi's (sharp's) default.
const QUALITY: u8 = 80;
/// Quality of an original re-encoded to lose its metadata: close to what was uploaded.
const ORIGINAL_QUALITY: u8 = 90;

/// Strapi's breakpoints, largest first: each fits inside its box, and exists only when
/// the image is larger than the box (never upscaled). Each is made from the one
/// before, so only the first resize reads every pixel of the original.
pub const BREAKPOINTS: [(&str, u32, u32); 4] = [
    ("large", 1000, 1000),
    ("medium", 750, 750),
    ("small", 500, 500),
    ("thumbnail", 245, 156),
];

/// The side of the square share image (WeChat's share card shows a square icon; its
/// JS-SDK takes one `imgUrl`, conventionally about 300 × 300).
pub const SQUARE: u32 = 300;

/// An encoding: the original's type, or WebP beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Gif,
    WebP,
}

impl Kind {
    /// The kinds we resize, by content type. AVIF (accepted as an upload) is not among
    /// them: decoding it needs a C library (dav1d) this bundle does not carry.
    pub fn of(content_type: &str) -> Option<Kind> {
        match content_type {
            "image/jpeg" => Some(Kind::Jpeg),
            "image/png" => Some(Kind::Png),
            "image/gif" => Some(Kind::Gif),
            "image/webp" => Some(Kind::WebP),
            _ => None,
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Gif => "image/gif",
            Kind::WebP => "image/webp",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpg",
            Kind::Png => "png",
            Kind::Gif => "gif",
            Kind::WebP => "webp",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            Kind::Jpeg => ImageFormat::Jpeg,
            Kind::Png => ImageFormat::Png,
            Kind::Gif => ImageFormat::Gif,
            Kind::WebP => ImageFormat::WebP,
        }
    }
}

/// One encoded format.
#[derive(Debug)]
pub struct Encoded {
    pub kind: Kind,
    pub bytes: Vec<u8>,
}

/// One breakpoint's image, in the original's kind and (unless that is WebP) in WebP.
#[derive(Debug)]
pub struct Format {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub encodings: Vec<Encoded>,
}

#[derive(Debug)]
pub struct Processed {
    /// The upright original's dimensions.
    pub width: u32,
    pub height: u32,
    pub formats: Vec<Format>,
    /// The original re-encoded without its metadata, when it had any.
    pub stripped_original: Option<Vec<u8>>,
    /// The centre of the image as a JPEG square of [`SQUARE`] pixels (less when the
    /// image is smaller), transparency on white: the share image of chat apps.
    pub square: Square,
}

#[derive(Debug)]
pub struct Square {
    pub side: u32,
    pub jpeg: Vec<u8>,
}

/// Why an upload gets no formats: said to the editor as is.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    TooManyPixels { width: u32, height: u32 },
    Unreadable(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::TooManyPixels { width, height } => write!(
                f,
                "the image is {width} × {height} pixels, over the budget of {} megapixels",
                PIXEL_BUDGET / 1_000_000
            ),
            Refused::Unreadable(why) => write!(f, "the file is not a readable image: {why}"),
        }
    }
}

/// Decodes `bytes` as `kind` (never guessing from the content: the type was checked
/// at upload and S3 stored it), and makes every format that applies.
pub fn process(bytes: &[u8], kind: Kind) -> Result<Processed, Refused> {
    let unreadable = |e: image::ImageError| Refused::Unreadable(e.to_string());
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    // The allocation cap stays at `image`'s default (512 MiB); the pixel budget below
    // is the tighter bound for anything that passes it.
    reader.limits(Limits::default());
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > PIXEL_BUDGET {
        return Err(Refused::TooManyPixels { width, height });
    }
    let orientation = decoder.orientation().map_err(unreadable)?;
    let had_metadata = kind != Kind::Gif
        && (decoder.exif_metadata().map_err(unreadable)?.is_some()
            || decoder.xmp_metadata().map_err(unreadable)?.is_some());
    let mut image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());

    let stripped_original = if had_metadata {
        Some(encode(&image, kind, ORIGINAL_QUALITY).map_err(Refused::Unreadable)?)
    } else {
        None
    };
    let mut formats = Vec::new();
    let mut source = image;
    let mut square_source = None;
    for (name, box_width, box_height) in BREAKPOINTS {
        if source.width() <= box_width && source.height() <= box_height {
            continue;
        }
        let resized = source.resize(box_width, box_height, FilterType::CatmullRom);
        let mut encodings = vec![Encoded {
            kind,
            bytes: encode(&resized, kind, QUALITY).map_err(Refused::Unreadable)?,
        }];
        if kind != Kind::WebP {
            encodings.push(Encoded {
                kind: Kind::WebP,
                bytes: encode(&resized, Kind::WebP, QUALITY).map_err(Refused::Unreadable)?,
            });
        }
        formats.push(Format {
            name,
            width: resized.width(),
            height: resized.height(),
            encodings,
        });
        // The square is cut from the largest format: far fewer pixels than the
        // original, and still more than the square needs.
        if square_source.is_none() {
            square_source = Some(resized.clone());
        }
        source = resized;
    }
    let square_source = square_source.unwrap_or(source);
    let side = SQUARE
        .min(square_source.width())
        .min(square_source.height());
    let square = Square {
        side,
        jpeg: encode(
            &on_white(&square_source.resize_to_fill(side, side, FilterType::CatmullRom)),
            Kind::Jpeg,
            QUALITY,
        )
        .map_err(Refused::Unreadable)?,
    };
    Ok(Processed {
        width,
        height,
        formats,
        stripped_original,
        square,
    })
}

/// `image` composited over white: what a JPEG of a transparent image should show.
fn on_white(image: &DynamicImage) -> DynamicImage {
    let mut rgba = image.to_rgba8();
    for pixel in rgba.pixels_mut() {
        let alpha = u16::from(pixel[3]);
        for channel in 0..3 {
            let value = u16::from(pixel[channel]);
            pixel[channel] = ((value * alpha + 255 * (255 - alpha)) / 255) as u8;
        }
        pixel[3] = 255;
    }
    DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).to_rgb8())
}

/// `image` in `kind`. JPEG has no alpha channel, so a transparent image is flattened
/// by dropping it; GIF is quantised to its 256-colour palette by the encoder.
fn encode(image: &DynamicImage, kind: Kind, quality: u8) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let (width, height) = (image.width(), image.height());
    match kind {
        Kind::Jpeg => {
            let rgb = image.to_rgb8();
            JpegEncoder::new_with_quality(&mut out, quality)
                .write_image(&rgb, width, height, ExtendedColorType::Rgb8)
                .map_err(|e| e.to_string())?;
        }
        Kind::Png => {
            let rgba = image.to_rgba8();
            PngEncoder::new_with_quality(&mut out, CompressionType::Default, PngFilter::Adaptive)
                .write_image(&rgba, width, height, ExtendedColorType::Rgba8)
                .map_err(|e| e.to_string())?;
        }
        Kind::Gif => {
            let rgba = image.to_rgba8();
            GifEncoder::new(&mut out)
                .encode(&rgba, width, height, ExtendedColorType::Rgba8)
                .map_err(|e| e.to_string())?;
        }
        Kind::WebP => {
            let rgba = image.to_rgba8();
            let encoded = webp::Encoder::from_rgba(&rgba, width, height)
                .encode_simple(false, f32::from(quality))
                .map_err(|e| format!("WebP encoding failed: {e:?}"))?;
            out.extend_from_slice(&encoded);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use image::{Rgba, RgbaImage};

    use super::*;

    /// A TIFF-structured EXIF payload: orientation `orientation` and a GPS IFD holding
    /// a latitude reference, which is all a test needs to see GPS data survive or not.
    fn exif(orientation: u16) -> Vec<u8> {
        let mut tiff = b"II*\0".to_vec();
        tiff.extend(8u32.to_le_bytes());
        // IFD0: Orientation, GPSInfo pointer.
        tiff.extend(2u16.to_le_bytes());
        tiff.extend([0x12, 0x01, 3, 0]);
        tiff.extend(1u32.to_le_bytes());
        tiff.extend(orientation.to_le_bytes());
        tiff.extend([0, 0]);
        tiff.extend([0x25, 0x88, 4, 0]);
        tiff.extend(1u32.to_le_bytes());
        tiff.extend(38u32.to_le_bytes());
        tiff.extend(0u32.to_le_bytes());
        // GPS IFD at 38: GPSLatitudeRef = "N".
        tiff.extend(1u16.to_le_bytes());
        tiff.extend([0x01, 0x00, 2, 0]);
        tiff.extend(2u32.to_le_bytes());
        tiff.extend(b"N\0\0\0");
        tiff.extend(0u32.to_le_bytes());
        tiff
    }

    /// A picture whose left half is red and right half blue, to tell rotations apart.
    fn picture(width: u32, height: u32) -> RgbaImage {
        RgbaImage::from_fn(width, height, |x, _| {
            if x < width / 2 {
                Rgba([220, 20, 20, 255])
            } else {
                Rgba([20, 20, 220, 255])
            }
        })
    }

    fn jpeg(image: &RgbaImage, exif: Option<Vec<u8>>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = JpegEncoder::new_with_quality(&mut out, 90);
        if let Some(exif) = exif {
            encoder.set_exif_metadata(exif).unwrap();
        }
        let rgb = DynamicImage::ImageRgba8(image.clone()).to_rgb8();
        encoder
            .write_image(&rgb, image.width(), image.height(), ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    fn png(image: &RgbaImage) -> Vec<u8> {
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(
                image,
                image.width(),
                image.height(),
                ExtendedColorType::Rgba8,
            )
            .unwrap();
        out
    }

    fn decode(bytes: &[u8], kind: Kind) -> DynamicImage {
        image::load_from_memory_with_format(bytes, kind.format()).unwrap()
    }

    fn sizes(processed: &Processed) -> Vec<(&str, u32, u32)> {
        processed
            .formats
            .iter()
            .map(|f| (f.name, f.width, f.height))
            .collect()
    }

    #[test]
    fn a_phone_photo_is_turned_upright_resized_to_every_breakpoint_and_loses_its_gps() {
        // Stored landscape with "rotate 90° clockwise to view" (orientation 6).
        let bytes = jpeg(&picture(1600, 1200), Some(exif(6)));
        assert!(bytes.windows(4).any(|w| w == b"Exif"));
        let processed = process(&bytes, Kind::Jpeg).unwrap();
        assert_eq!((processed.width, processed.height), (1200, 1600));
        assert_eq!(
            sizes(&processed),
            [
                ("large", 750, 1000),
                ("medium", 563, 750),
                ("small", 375, 500),
                ("thumbnail", 117, 156)
            ]
        );
        for format in &processed.formats {
            let kinds: Vec<Kind> = format.encodings.iter().map(|e| e.kind).collect();
            assert_eq!(kinds, [Kind::Jpeg, Kind::WebP], "{}", format.name);
            for encoded in &format.encodings {
                assert!(!encoded.bytes.windows(4).any(|w| w == b"Exif"));
                let image = decode(&encoded.bytes, encoded.kind);
                assert_eq!(
                    (image.width(), image.height()),
                    (format.width, format.height)
                );
            }
        }
        // Upright: the red half, once on the left, is now on top.
        let large = decode(&processed.formats[0].encodings[0].bytes, Kind::Jpeg).to_rgb8();
        let top = large.get_pixel(375, 100);
        let bottom = large.get_pixel(375, 900);
        assert!(top[0] > 150 && top[2] < 100, "{top:?}");
        assert!(bottom[2] > 150 && bottom[0] < 100, "{bottom:?}");
        // The original comes back upright and without EXIF (so without GPS).
        let original = processed.stripped_original.expect("rewritten");
        assert!(!original.windows(4).any(|w| w == b"Exif"));
        let original = decode(&original, Kind::Jpeg);
        assert_eq!((original.width(), original.height()), (1200, 1600));
        // The share square: 300 × 300 from the middle, a JPEG without EXIF.
        assert_eq!(processed.square.side, 300);
        assert!(!processed.square.jpeg.windows(4).any(|w| w == b"Exif"));
        let square = decode(&processed.square.jpeg, Kind::Jpeg);
        assert_eq!((square.width(), square.height()), (300, 300));
    }

    #[test]
    fn images_are_never_upscaled_and_clean_originals_are_kept() {
        let small = process(&png(&picture(200, 100)), Kind::Png).unwrap();
        assert_eq!((small.width, small.height), (200, 100));
        assert!(small.formats.is_empty());
        assert!(small.stripped_original.is_none());
        // Never upscaled either: the square of a small image is its short side.
        assert_eq!(small.square.side, 100);

        let medium = process(&png(&picture(600, 400)), Kind::Png).unwrap();
        assert_eq!(
            sizes(&medium),
            [("small", 500, 333), ("thumbnail", 234, 156)]
        );
        assert!(medium.stripped_original.is_none());
    }

    #[test]
    fn the_square_of_a_transparent_image_is_on_white() {
        let clear = RgbaImage::from_pixel(400, 400, Rgba([0, 0, 0, 0]));
        let processed = process(&png(&clear), Kind::Png).unwrap();
        let square = decode(&processed.square.jpeg, Kind::Jpeg).to_rgb8();
        let pixel = square.get_pixel(150, 150);
        assert!(pixel.0.iter().all(|c| *c > 245), "{pixel:?}");
    }

    #[test]
    fn a_webp_original_gets_webp_formats_only() {
        let bytes = encode(&DynamicImage::ImageRgba8(picture(800, 600)), Kind::WebP, 90).unwrap();
        let processed = process(&bytes, Kind::WebP).unwrap();
        assert_eq!(
            sizes(&processed),
            [
                ("medium", 750, 563),
                ("small", 500, 375),
                ("thumbnail", 208, 156)
            ]
        );
        for format in &processed.formats {
            assert_eq!(format.encodings.len(), 1);
            assert_eq!(format.encodings[0].kind, Kind::WebP);
        }
    }

    #[test]
    fn an_animated_gif_gives_its_first_frame() {
        use image::{Delay, Frame, codecs::gif::Repeat};
        let mut bytes = Vec::new();
        {
            let mut encoder = GifEncoder::new(&mut bytes);
            encoder.set_repeat(Repeat::Infinite).unwrap();
            for colour in [Rgba([250, 0, 0, 255]), Rgba([0, 0, 250, 255])] {
                let frame = RgbaImage::from_pixel(400, 300, colour);
                encoder
                    .encode_frame(Frame::from_parts(
                        frame,
                        0,
                        0,
                        Delay::from_numer_denom_ms(100, 1),
                    ))
                    .unwrap();
            }
        }
        let processed = process(&bytes, Kind::Gif).unwrap();
        assert_eq!(sizes(&processed), [("thumbnail", 208, 156)]);
        assert!(
            processed.stripped_original.is_none(),
            "the GIF is kept as is"
        );
        let thumbnail = &processed.formats[0];
        assert_eq!(thumbnail.encodings[0].kind, Kind::Gif);
        let first = decode(&thumbnail.encodings[0].bytes, Kind::Gif).to_rgba8();
        let pixel = first.get_pixel(100, 70);
        assert!(
            pixel[0] > 200 && pixel[2] < 50,
            "the red first frame: {pixel:?}"
        );
    }

    /// A PNG signature, IHDR and the first bytes of IDAT claiming `width` × `height`, and nothing else: the
    /// refusal must come from the header, before any pixel is decoded.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        fn crc32(bytes: &[u8]) -> u32 {
            let mut crc = !0u32;
            for byte in bytes {
                crc ^= u32::from(*byte);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        let mut chunk = b"IHDR".to_vec();
        chunk.extend(width.to_be_bytes());
        chunk.extend(height.to_be_bytes());
        chunk.extend([8, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(13u32.to_be_bytes());
        png.extend(&chunk);
        png.extend(crc32(&chunk).to_be_bytes());
        // The start of the pixel data (a zlib header), where the header reading stops.
        let data = b"IDAT\x78\x9c";
        png.extend(2u32.to_be_bytes());
        png.extend(data);
        png.extend(crc32(data).to_be_bytes());
        png
    }

    #[test]
    fn images_over_the_pixel_budget_are_refused_from_their_header() {
        let refused = process(&png_header(8000, 6000), Kind::Png).unwrap_err();
        assert_eq!(
            refused,
            Refused::TooManyPixels {
                width: 8000,
                height: 6000
            }
        );
        assert!(refused.to_string().contains("40 megapixels"), "{refused}");
    }

    #[test]
    fn corrupt_and_mislabelled_files_are_refused_not_panicked_on() {
        let png_bytes = png(&picture(300, 200));
        for (bytes, kind) in [
            (b"not an image at all".to_vec(), Kind::Jpeg),
            (png_bytes.clone(), Kind::Jpeg),
            (png_bytes[..png_bytes.len() / 2].to_vec(), Kind::Png),
            (Vec::new(), Kind::WebP),
            (b"GIF89a\x10\x00".to_vec(), Kind::Gif),
        ] {
            assert!(
                matches!(process(&bytes, kind), Err(Refused::Unreadable(_))),
                "{kind:?}"
            );
        }
    }
}
