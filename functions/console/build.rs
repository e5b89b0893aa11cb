//! Embeds the console's production build (`console/dist`, made by `npm run build`
//! in console/) into the binary: every file with its type, a strong ETag and, where
//! it pays, a gzip copy compressed once here rather than on every request (API
//! Gateway's HTTP APIs do not compress).

use std::{
    env, fs,
    io::Write,
    path::{Path, PathBuf},
};

use flate2::{Compression, write::GzEncoder};
use sha2::{Digest, Sha256};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let dist = manifest.join("../../console/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    println!(
        "cargo:rerun-if-changed={}",
        dist.join("index.html").display()
    );
    println!("cargo:rerun-if-changed={}", dist.join("assets").display());
    if !dist.join("index.html").is_file() {
        panic!(
            "{} has no index.html: build the console first (scripts/console, or \
             `npm ci && npm run build` in console/)",
            dist.display()
        );
    }
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let mut files = Vec::new();
    collect(&dist, &dist, &mut files);
    files.sort();

    let mut table = String::from("pub static FILES: &[File] = &[\n");
    for (i, relative) in files.iter().enumerate() {
        let source = dist.join(relative);
        let bytes = fs::read(&source).unwrap();
        let etag = hex::encode(&Sha256::digest(&bytes)[..12]);
        let gzip = compressible(relative)
            .then(|| gzip(&bytes))
            .filter(|z| z.len() + 64 < bytes.len());
        let gzip = match gzip {
            Some(z) => {
                let path = out.join(format!("{i}.gz"));
                fs::write(&path, z).unwrap();
                format!("Some(include_bytes!({:?}))", path.display().to_string())
            }
            None => "None".into(),
        };
        table.push_str(&format!(
            "    File {{ path: {:?}, mime: {:?}, etag: \"\\\"{etag}\\\"\", body: include_bytes!({:?}), gzip: {gzip} }},\n",
            relative,
            mime(relative),
            source.display().to_string(),
        ));
    }
    table.push_str("];\n");
    fs::write(out.join("files.rs"), table).unwrap();
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            files.push(relative);
        }
    }
}

fn extension(path: &str) -> &str {
    path.rsplit_once('.').map_or("", |(_, ext)| ext)
}

fn mime(path: &str) -> &'static str {
    match extension(path) {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        other => {
            panic!("console/dist holds a .{other} file: add its type to functions/console/build.rs")
        }
    }
}

fn compressible(path: &str) -> bool {
    matches!(
        extension(path),
        "html" | "js" | "mjs" | "css" | "json" | "map" | "svg" | "txt" | "ico"
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}
